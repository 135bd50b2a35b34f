// tools/qt-vmm/output.h — renders a command's result as the QingTian CLI (knack) does:
// `--query` (JMESPath) first, then `--output` json, jsonc, none, table, tsv, yaml or yamlc.
//
// Usage:
//     auto fmt = qtvmm::parse_output_format("table");                 // nullopt if unknown
//     jmespath::Expression q = jmespath::compile("[].EnclaveID");     // optional
//     std::cout << qtvmm::render(result, *fmt, &q, /*color=*/isatty(1) && isatty(2));
//
// knack's rules, kept here: a null result (e.g. a query that selects nothing) prints nothing in
// every format; json and yaml sort every object's keys; table sorts keys only when no query
// shaped the result; tsv writes an object's values in key order, except for objects a query
// builds ({a: x, b: y}), which keep that order (so, in tsv only, functions that list an object's
// keys or values see them in key order); jsonc and yamlc are coloured only when `color`
// (the caller passes "stdout and stderr are terminals") and are plain json and yaml otherwise.
// The per-format details are in output_json.h, output_yaml.h and output_table.h.
#pragma once

#include "tools/jmespath/jmespath.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace qtvmm {

enum class OutputFormat { Json, Jsonc, None, Table, Tsv, Yaml, Yamlc };

std::optional<OutputFormat> parse_output_format(std::string_view name);
// Results keep their key order (QingTian and nitro-cli outputs have a fixed field order).
using Json = nlohmann::ordered_json;

// query may be null. Throws jmespath::Error when the query fails on this result (a function given
// the wrong type), base::Error when the table format has nothing to show.
std::string render(const Json& result, OutputFormat format, const jmespath::Expression* query, bool color);

} // namespace qtvmm
