// tools/qt-vmm/output_json.h — knack's json and jsonc: json.dumps(indent=2, sort_keys=True,
// ensure_ascii=False) and, for jsonc, that text as Pygments' JsonLexer + TerminalFormatter
// colour it (keys bright blue, strings yellow, numbers and constants blue, blanks grey).
//
// Usage:
//     std::string text = qtvmm::format_json(sort_keys(result), /*color=*/false);
//     qtvmm::Json sorted = qtvmm::sort_keys(result);   // every object's keys in code-point order
#pragma once

#include "tools/qt-vmm/output.h"

#include <string>

namespace qtvmm {

Json sort_keys(const Json& value);
// Writes the keys in the order they have (callers sort them first for knack's output).
std::string format_json(const Json& value, bool color);

} // namespace qtvmm
