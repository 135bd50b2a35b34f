// tools/jmespath/functions.h — JMESPath's built-in functions (abs … values) and their signatures.
//
// Usage (the parser resolves names, the interpreter calls):
//     const jmespath::FunctionSpec* f = jmespath::find_function("length");   // nullptr if unknown
//     jmespath::check_arity(*f, 1, position);            // throws InvalidArity
//     Json r = jmespath::call_function(*f, args);        // throws InvalidType / InvalidValue
// An argument is a value or, for `&expr`, the expression (map, sort_by, min_by, max_by).
#pragma once

#include "tools/jmespath/ast.h"

#include <cstddef>
#include <string_view>
#include <vector>

namespace jmespath {

struct Arg {
    Json value;
    const Node* expref { nullptr };
};

using FunctionImpl = Json (*)(const std::vector<Arg>& args);

struct FunctionSpec {
    const char* name;
    std::vector<unsigned> params; // a mask of TypeBit per parameter; the last repeats if variadic
    bool variadic;
    FunctionImpl impl;
};

const FunctionSpec* find_function(std::string_view name);
void check_arity(const FunctionSpec& function, std::size_t count, std::size_t position);
Json call_function(const FunctionSpec& function, const std::vector<Arg>& args);

} // namespace jmespath
