// tools/qt-vmm/output.h — renders a command's JSON result in the formats of the QingTian CLI
// (knack): json, jsonc (coloured), none, table, tsv, yaml, yamlc (coloured).
//
// Usage:
//     auto fmt = qtvmm::parse_output_format("table");          // nullopt if unknown
//     std::cout << qtvmm::format_output(result_json, *fmt);
//
// table and tsv show scalar fields only (like knack): one row per object of a top-level array,
// or one row for a single object; nested objects and arrays are left out of those two formats.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace qtvmm {

enum class OutputFormat { Json, Jsonc, None, Table, Tsv, Yaml, Yamlc };

std::optional<OutputFormat> parse_output_format(std::string_view name);
// Results keep their key order (QingTian and nitro-cli outputs have a fixed field order).
using Json = nlohmann::ordered_json;

std::string format_output(const Json& value, OutputFormat format);

} // namespace qtvmm
