// tools/jmespath/parser.h — a Pratt (top-down operator precedence) parser from tokens to an AST,
// with the binding powers of the JMESPath reference implementation.
//
// Usage:
//     jmespath::NodePtr root = jmespath::parse("a.b[0]");
// Throws jmespath::Error: Syntax (with the offset of the offending token), UnknownFunction or
// InvalidArity (function names and argument counts are checked here, before any search).
// Expressions nested deeper than kMaxDepth are refused as a syntax error.
#pragma once

#include "tools/jmespath/ast.h"

#include <string_view>

namespace jmespath {

inline constexpr int kMaxDepth = 256;

NodePtr parse(std::string_view expression);

} // namespace jmespath
