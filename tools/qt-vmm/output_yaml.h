// tools/qt-vmm/output_yaml.h — knack's yaml and yamlc: what PyYAML's
// safe_dump(result, default_flow_style=False, allow_unicode=True) writes (block style, keys
// sorted, plain scalars unless YAML would read them back as something else, '...' quoting when
// needed, "..." with escapes for control characters, lines folded at 80 columns), and for yamlc
// that text coloured as Pygments' YamlLexer + TerminalFormatter colour it.
//
// Usage:
//     std::string text = qtvmm::format_yaml(result, /*color=*/false);
#pragma once

#include "tools/qt-vmm/output.h"

#include <string>

namespace qtvmm {

// Keys are written in their order: callers sort them first (sort_keys in output_json.h).
std::string format_yaml(const Json& value, bool color);

} // namespace qtvmm
