#include "tools/jmespath/jmespath.h"

#include "tools/jmespath/interpreter.h"
#include "tools/jmespath/parser.h"

namespace jmespath {

namespace {

// Offset of the first byte that does not start or continue a valid UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view s)
{
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 1;
        unsigned char lo = 0x80, hi = 0xBF; // the allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else if (c >= 0x80) {
            return i;
        }
        if (i + len > s.size())
            return i;
        for (std::size_t k = 1; k < len; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
                return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

} // namespace

const char* error_kind_name(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::Syntax: return "syntax";
    case ErrorKind::UnknownFunction: return "unknown-function";
    case ErrorKind::InvalidArity: return "invalid-arity";
    case ErrorKind::InvalidType: return "invalid-type";
    case ErrorKind::InvalidValue: return "invalid-value";
    }
    return "error";
}

Error::Error(ErrorKind kind, const std::string& message, std::size_t position)
    : std::runtime_error(message)
    , kind_(kind)
    , position_(position)
{
}

Expression::Expression(std::shared_ptr<const Node> root)
    : root_(std::move(root))
{
}

Json Expression::search(const Json& document) const
{
    return evaluate(*root_, document);
}

Expression compile(std::string_view expression)
{
    std::size_t bad = invalid_utf8_at(expression);
    if (bad != std::string_view::npos)
        throw Error(ErrorKind::Syntax, "the expression is not valid UTF-8", bad);
    return Expression(parse(expression));
}

} // namespace jmespath
