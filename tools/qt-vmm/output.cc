#include "tools/qt-vmm/output.h"

#include "tools/qt-vmm/output_json.h"
#include "tools/qt-vmm/output_table.h"
#include "tools/qt-vmm/output_yaml.h"

namespace qtvmm {

std::optional<OutputFormat> parse_output_format(std::string_view name)
{
    static const std::pair<const char*, OutputFormat> names[] = { { "json", OutputFormat::Json },
        { "jsonc", OutputFormat::Jsonc }, { "none", OutputFormat::None }, { "table", OutputFormat::Table },
        { "tsv", OutputFormat::Tsv }, { "yaml", OutputFormat::Yaml }, { "yamlc", OutputFormat::Yamlc } };
    for (const auto& [n, format] : names)
        if (name == n)
            return format;
    return std::nullopt;
}

std::string render(const Json& result, OutputFormat format, const jmespath::Expression* query, bool color)
{
    // knack's results are Python dicts, which tsv writes in key order, while the objects its query
    // builds are OrderedDicts, which tsv writes in their own order: for tsv, querying a key-sorted
    // copy gives both at once. Every other format queries the result as it is (json and yaml sort
    // all keys anyway; table lists a dict's keys in their own order once a query ran).
    Json shown = result;
    if (format == OutputFormat::Tsv)
        shown = sort_keys(result);
    if (query)
        shown = query->search(shown);
    if (shown.is_null())
        return "";
    switch (format) {
    case OutputFormat::Json:
    case OutputFormat::Jsonc:
        return format_json(sort_keys(shown), color && format == OutputFormat::Jsonc);
    case OutputFormat::Yaml:
    case OutputFormat::Yamlc:
        return format_yaml(sort_keys(shown), color && format == OutputFormat::Yamlc);
    case OutputFormat::Table:
        return format_table(shown, query == nullptr);
    case OutputFormat::Tsv:
        return format_tsv(shown);
    case OutputFormat::None:
        return "";
    }
    return "";
}

} // namespace qtvmm
