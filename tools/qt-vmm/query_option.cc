#include "tools/qt-vmm/query_option.h"

#include "base/error.h"

namespace qtvmm {

namespace {

const char* const kFix = "; fix the JMESPath expression (https://jmespath.org/specification.html), "
                         "e.g. --query '[0].EnclaveID' or --query '{id: EnclaveID, cid: EnclaveCID}'";

std::string one_line(std::string text)
{
    for (char& c : text)
        if (c == '\n' || c == '\r')
            c = ' ';
    return text;
}

} // namespace

jmespath::Expression compile_query(const std::string& text)
{
    try {
        return jmespath::compile(text);
    } catch (const jmespath::Error& e) {
        std::string where = e.position() == jmespath::Error::npos ? "" : " at column " + std::to_string(e.position() + 1);
        throw base::Error(base::ErrorKind::Usage, "INVALID_QUERY",
            one_line("--query '" + text + "': " + jmespath::error_kind_name(e.kind()) + " error" + where + ": " + e.what() + kFix));
    }
}

std::string render_with_query(const Json& result, OutputFormat format, const jmespath::Expression* query, bool color)
{
    try {
        return render(result, format, query, color);
    } catch (const jmespath::Error& e) {
        throw base::Error(base::ErrorKind::Usage, "INVALID_QUERY",
            one_line(std::string("--query failed on this command's result: ") + jmespath::error_kind_name(e.kind())
                + " error: " + e.what() + kFix));
    }
}

} // namespace qtvmm
