#include "tools/qt-vmm/output.h"

#include <sstream>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace qtvmm {

namespace {

const char* const kKeyColor = "\x1b[94m";
const char* const kStringColor = "\x1b[32m";
const char* const kScalarColor = "\x1b[33m";
const char* const kReset = "\x1b[0m";

void write_jsonc(std::ostringstream& out, const Json& v, int indent)
{
    std::string pad(static_cast<std::size_t>(indent + 2), ' ');
    std::string closing_pad(static_cast<std::size_t>(indent), ' ');
    if (v.is_object()) {
        if (v.empty()) {
            out << "{}";
            return;
        }
        out << "{\n";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first)
                out << ",\n";
            first = false;
            out << pad << kKeyColor << Json(it.key()).dump() << kReset << ": ";
            write_jsonc(out, it.value(), indent + 2);
        }
        out << "\n" << closing_pad << "}";
    } else if (v.is_array()) {
        if (v.empty()) {
            out << "[]";
            return;
        }
        out << "[\n";
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i)
                out << ",\n";
            out << pad;
            write_jsonc(out, v[i], indent + 2);
        }
        out << "\n" << closing_pad << "]";
    } else if (v.is_string()) {
        out << kStringColor << v.dump() << kReset;
    } else {
        out << kScalarColor << v.dump() << kReset;
    }
}

void emit_yaml(YAML::Emitter& e, const Json& v)
{
    if (v.is_object()) {
        e << YAML::BeginMap;
        for (auto it = v.begin(); it != v.end(); ++it) {
            e << YAML::Key << it.key() << YAML::Value;
            emit_yaml(e, it.value());
        }
        e << YAML::EndMap;
    } else if (v.is_array()) {
        e << YAML::BeginSeq;
        for (const auto& item : v)
            emit_yaml(e, item);
        e << YAML::EndSeq;
    } else if (v.is_string()) {
        e << YAML::DoubleQuoted << v.get<std::string>();
    } else if (v.is_null()) {
        e << YAML::Null;
    } else if (v.is_boolean()) {
        e << v.get<bool>();
    } else if (v.is_number_unsigned()) {
        e << v.get<std::uint64_t>();
    } else if (v.is_number_integer()) {
        e << v.get<std::int64_t>();
    } else {
        e << v.get<double>();
    }
}

std::string scalar_text(const Json& v)
{
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_null())
        return "";
    return v.dump();
}

std::vector<Json> rows_of(const Json& value)
{
    std::vector<Json> rows;
    if (value.is_array()) {
        for (const auto& item : value)
            rows.push_back(item);
    } else {
        rows.push_back(value);
    }
    return rows;
}

std::vector<std::string> scalar_columns(const std::vector<Json>& rows)
{
    std::vector<std::string> columns;
    for (const auto& row : rows) {
        if (!row.is_object())
            continue;
        for (auto it = row.begin(); it != row.end(); ++it) {
            if (it.value().is_structured())
                continue;
            bool known = false;
            for (const auto& c : columns)
                known = known || c == it.key();
            if (!known)
                columns.push_back(it.key());
        }
    }
    return columns;
}

std::string format_table(const Json& value)
{
    auto rows = rows_of(value);
    auto columns = scalar_columns(rows);
    if (columns.empty()) {
        std::string out;
        for (const auto& row : rows)
            if (!row.is_structured())
                out += scalar_text(row) + "\n";
        return out;
    }
    std::vector<std::size_t> width(columns.size());
    std::vector<std::vector<std::string>> cells;
    for (std::size_t c = 0; c < columns.size(); ++c)
        width[c] = columns[c].size();
    for (const auto& row : rows) {
        std::vector<std::string> line;
        for (std::size_t c = 0; c < columns.size(); ++c) {
            std::string text = row.is_object() && row.contains(columns[c]) ? scalar_text(row[columns[c]]) : "";
            width[c] = std::max(width[c], text.size());
            line.push_back(std::move(text));
        }
        cells.push_back(std::move(line));
    }
    std::ostringstream out;
    auto write_line = [&](const std::vector<std::string>& line) {
        std::string text;
        for (std::size_t c = 0; c < line.size(); ++c) {
            text += line[c];
            if (c + 1 < line.size())
                text += std::string(width[c] - line[c].size() + 2, ' ');
        }
        out << text << "\n";
    };
    write_line(columns);
    std::vector<std::string> rule;
    for (std::size_t c = 0; c < columns.size(); ++c)
        rule.push_back(std::string(width[c], '-'));
    write_line(rule);
    for (const auto& line : cells)
        write_line(line);
    return out.str();
}

std::string format_tsv(const Json& value)
{
    std::ostringstream out;
    for (const auto& row : rows_of(value)) {
        if (!row.is_object()) {
            if (!row.is_structured())
                out << scalar_text(row) << "\n";
            continue;
        }
        bool first = true;
        for (auto it = row.begin(); it != row.end(); ++it) {
            if (it.value().is_structured())
                continue;
            if (!first)
                out << "\t";
            first = false;
            out << scalar_text(it.value());
        }
        out << "\n";
    }
    return out.str();
}

std::string colorize_yaml(const std::string& yaml)
{
    std::istringstream in(yaml);
    std::ostringstream out;
    for (std::string line; std::getline(in, line);) {
        std::size_t start = line.find_first_not_of(' ');
        if (start != std::string::npos && line.compare(start, 2, "- ") == 0)
            start += 2;
        std::size_t colon = line.find(": ", start == std::string::npos ? 0 : start);
        if (colon == std::string::npos && !line.empty() && line.back() == ':')
            colon = line.size() - 1;
        if (start != std::string::npos && colon != std::string::npos && line[start] != '"') {
            out << line.substr(0, start) << kKeyColor << line.substr(start, colon - start) << kReset
                << line.substr(colon) << "\n";
        } else {
            out << line << "\n";
        }
    }
    return out.str();
}

} // namespace

std::optional<OutputFormat> parse_output_format(std::string_view name)
{
    if (name == "json")
        return OutputFormat::Json;
    if (name == "jsonc")
        return OutputFormat::Jsonc;
    if (name == "none")
        return OutputFormat::None;
    if (name == "table")
        return OutputFormat::Table;
    if (name == "tsv")
        return OutputFormat::Tsv;
    if (name == "yaml")
        return OutputFormat::Yaml;
    if (name == "yamlc")
        return OutputFormat::Yamlc;
    return std::nullopt;
}

std::string format_output(const Json& value, OutputFormat format)
{
    switch (format) {
    case OutputFormat::Json:
        return value.dump(2) + "\n";
    case OutputFormat::Jsonc: {
        std::ostringstream out;
        write_jsonc(out, value, 0);
        out << "\n";
        return out.str();
    }
    case OutputFormat::None:
        return "";
    case OutputFormat::Table:
        return format_table(value);
    case OutputFormat::Tsv:
        return format_tsv(value);
    case OutputFormat::Yaml:
    case OutputFormat::Yamlc: {
        YAML::Emitter e;
        emit_yaml(e, value);
        std::string text = std::string(e.c_str()) + "\n";
        return format == OutputFormat::Yaml ? text : colorize_yaml(text);
    }
    }
    return "";
}

} // namespace qtvmm
