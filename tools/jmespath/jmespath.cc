#include "tools/jmespath/jmespath.h"

#include "tools/jmespath/interpreter.h"
#include "tools/jmespath/parser.h"

namespace jmespath {

namespace {

// Offset of the first byte that does not start or continue a valid UTF-8 sequence, or npos.
std::size_t invalid_utf8_at(std::string_view s)
{
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > s.size())
            return i;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return i;
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
