// tools/jmespath/interpreter.h — evaluates a parsed expression (ast.h) against a JSON document.
//
// Usage:
//     jmespath::Json r = jmespath::evaluate(*jmespath::parse("a[0]"), document);
// Throws jmespath::Error (InvalidType from functions, InvalidValue for a slice step of 0).
// Recursion follows the tree, whose height the parser bounds (kMaxDepth).
#pragma once

#include "tools/jmespath/ast.h"

namespace jmespath {

Json evaluate(const Node& node, const Json& value);

} // namespace jmespath
