// tools/jmespath/lexer.h — splits a JMESPath expression into tokens (the grammar's terminals).
//
// Usage:
//     std::vector<jmespath::Token> tokens = jmespath::tokenize("foo[?a > `1`]");
// The last token is always Eof. Malformed input (an unclosed string, a bad literal, a lone '=',
// a JSON literal nested deeper than kMaxLiteralNesting) throws jmespath::Error of kind Syntax
// with the offset of the problem.
#pragma once

#include "tools/jmespath/jmespath.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jmespath {

inline constexpr int kMaxLiteralNesting = 256;

enum class Tok {
    Eof,
    UnquotedIdentifier,
    QuotedIdentifier,
    Literal, // `json` or 'raw string'; the value is in Token::value
    Number,  // an integer in [..] (may be negative); the value is in Token::number
    Dot,
    Star,
    Flatten, // []
    Filter,  // [?
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Colon,
    Pipe,
    Or,
    And,
    Not,
    Expref, // &
    Current, // @
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
};

struct Token {
    Tok type { Tok::Eof };
    std::size_t position { 0 };
    std::string text;       // identifier name (unescaped for quoted identifiers)
    Json value;             // literal value
    std::int64_t number {}; // Number tokens, saturated to the int64 range
};

// How a token reads in an error message, e.g. "']'" or "end of expression".
std::string describe(const Token& token);

std::vector<Token> tokenize(std::string_view expression);

} // namespace jmespath
