// tools/qt-vmm/output_yaml_resolver.h — would YAML read this text back as a string? PyYAML's
// implicit resolvers (YAML 1.1: bool, int, float, null, timestamp, merge '<<' and value '=') decide
// whether safe_dump may write a string plain or must quote it ('yes', '010', '1.5', '2024-01-02').
//
// Usage:
//     if (qtvmm::yaml_resolves_to_non_string(text)) { /* quote it */ }
#pragma once

#include <string_view>

namespace qtvmm {

bool yaml_resolves_to_non_string(std::string_view text);

} // namespace qtvmm
