// tools/jmespath/value.h — JMESPath's view of JSON values: type names, truth, equality, order.
//
// Usage:
//     jmespath::type_name(v)        // "number", "string", "boolean", "array", "object", "null"
//     jmespath::is_true(v)          // false for null, false, "", [], {}; true otherwise (0 too)
//     jmespath::equal(a, b)         // JSON equality (object key order ignored, 1 == 1.0)
//     jmespath::order(a, b)         // <0, 0, >0 for two numbers or two strings (code points)
//     jmespath::code_points(s)      // length of a UTF-8 string in code points
#pragma once

#include "tools/jmespath/jmespath.h"

#include <cstddef>
#include <string>

namespace jmespath {

const char* type_name(const Json& v);
bool is_true(const Json& v);
bool equal(const Json& a, const Json& b);
// Callers check that a and b are both numbers or both strings.
int order(const Json& a, const Json& b);
std::size_t code_points(const std::string& s);

} // namespace jmespath
