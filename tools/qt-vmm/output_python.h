// tools/qt-vmm/output_python.h — how Python writes values, for the knack output formats (knack is
// Python: its tables and tsv use str(), its json and yaml use repr() for floats).
//
// Usage:
//     qtvmm::python_float(1e16)          // "1e+16" (repr: shortest round trip, ".0" kept)
//     qtvmm::python_str(Json(true))      // "True"; None, numbers, strings as-is, lists/dicts as repr
#pragma once

#include "tools/qt-vmm/output.h"

#include <string>

namespace qtvmm {

std::string python_float(double value);
std::string python_str(const Json& value);

} // namespace qtvmm
