// tools/qt-vmm/query_option.h — the global `--query JMESPATH` option: compiles the expression
// once the command line is parsed (a bad one fails before the command runs) and applies it to the
// result; every JMESPath error becomes one line with code INVALID_QUERY and the usage exit status.
//
// Usage (main.cc and Cli::print):
//     jmespath::Expression q = qtvmm::compile_query(text);            // throws base::Error
//     std::string out = qtvmm::render_with_query(result, fmt, &q, color);  // throws base::Error
#pragma once

#include "tools/qt-vmm/output.h"

#include <string>

namespace qtvmm {

jmespath::Expression compile_query(const std::string& text);
std::string render_with_query(const Json& result, OutputFormat format, const jmespath::Expression* query, bool color);

} // namespace qtvmm
