// tools/jmespath/jmespath.h — JMESPath (https://jmespath.org) over nlohmann::ordered_json: the
// query language of `qt-vmm --query`, as in knack-based CLIs (QingTian `qt`, Azure `az`).
//
// Usage:
//     jmespath::Expression e = jmespath::compile("[?State=='RUNNING'].{id: EnclaveID}");
//     jmespath::Json result = e.search(document);
// compile() throws jmespath::Error (kind Syntax, UnknownFunction or InvalidArity, with the column
// of the problem); search() throws jmespath::Error (kind InvalidType or InvalidValue) when a
// function gets an argument of the wrong type or a slice has step 0. Objects built by a query
// ({a: x}) keep the order of their keys; objects taken from the document keep theirs.
//
// The pieces: lexer.h (tokens), parser.h (Pratt parser to ast.h), interpreter.h (evaluation),
// functions.h (the built-in functions), value.h (JMESPath's types, truth and equality).
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace jmespath {

using Json = nlohmann::ordered_json;

// The error kinds of the JMESPath specification (and of its compliance suite).
enum class ErrorKind { Syntax, UnknownFunction, InvalidArity, InvalidType, InvalidValue };

// "syntax", "unknown-function", "invalid-arity", "invalid-type", "invalid-value".
const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
public:
    // position: byte offset in the expression, or npos for errors found while searching.
    Error(ErrorKind kind, const std::string& message, std::size_t position = npos);
    ErrorKind kind() const { return kind_; }
    std::size_t position() const { return position_; }
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

private:
    ErrorKind kind_;
    std::size_t position_;
};

struct Node;

// A compiled expression; cheap to move, immutable, reusable across documents.
class Expression {
public:
    explicit Expression(std::shared_ptr<const Node> root);
    Json search(const Json& document) const;

private:
    std::shared_ptr<const Node> root_;
};

Expression compile(std::string_view expression);

} // namespace jmespath
