#include "tools/jmespath/lexer.h"

#include <algorithm>
#include <limits>

namespace jmespath {

namespace {

bool is_identifier_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_identifier_char(char c)
{
    return is_identifier_start(c) || (c >= '0' && c <= '9');
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// How deeply arrays and objects nest in a JSON text (strings skipped), without recursing.
int json_nesting(std::string_view text)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

class Lexer {
public:
    explicit Lexer(std::string_view text)
        : text_(text)
    {
    }

    std::vector<Token> run()
    {
        std::vector<Token> tokens;
        while (true) {
            skip_whitespace();
            Token t;
            t.position = pos_;
            if (pos_ >= text_.size()) {
                tokens.push_back(t);
                return tokens;
            }
            read(t);
            tokens.push_back(std::move(t));
        }
    }

private:
    std::string_view text_;
    std::size_t pos_ { 0 };

    char peek(std::size_t ahead = 0) const
    {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }

    void skip_whitespace()
    {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    [[noreturn]] void fail(const std::string& message, std::size_t at) const
    {
        throw Error(ErrorKind::Syntax, message, at);
    }

    // Either one character, or two when the second one matches.
    void one_or_two(Token& t, Tok one, char second, Tok two)
    {
        if (peek(1) == second) {
            t.type = two;
            pos_ += 2;
        } else {
            t.type = one;
            pos_ += 1;
        }
    }

    // The text up to the closing delimiter; a backslash keeps the next character (and itself).
    std::string until(char delimiter, const char* what)
    {
        std::size_t start = pos_;
        ++pos_;
        std::string out;
        while (true) {
            if (pos_ >= text_.size())
                fail(std::string("unclosed ") + what + " (missing " + delimiter + ")", start);
            char c = text_[pos_];
            if (c == delimiter)
                break;
            if (c == '\\') {
                out += c;
                ++pos_;
                if (pos_ >= text_.size())
                    fail(std::string("unclosed ") + what + " (missing " + delimiter + ")", start);
                c = text_[pos_];
            }
            out += c;
            ++pos_;
        }
        ++pos_;
        return out;
    }

    static std::string replace_escape(std::string s, char quote)
    {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == quote) {
                out += quote;
                ++i;
            } else {
                out += s[i];
            }
        }
        return out;
    }

    void read_number(Token& t)
    {
        std::size_t start = pos_;
        bool negative = peek() == '-';
        if (negative)
            ++pos_;
        if (!is_digit(peek()))
            fail("'-' must be followed by digits", start);
        std::int64_t value = 0;
        constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
        while (is_digit(peek())) {
            int d = peek() - '0';
            value = value > (kMax - d) / 10 ? kMax : value * 10 + d;
            ++pos_;
        }
        t.type = Tok::Number;
        t.number = negative ? -value : value;
        t.text = std::string(text_.substr(start, pos_ - start));
    }

    void read(Token& t)
    {
        char c = peek();
        switch (c) {
        case '.': t.type = Tok::Dot; ++pos_; return;
        case '*': t.type = Tok::Star; ++pos_; return;
        case ']': t.type = Tok::RBracket; ++pos_; return;
        case '{': t.type = Tok::LBrace; ++pos_; return;
        case '}': t.type = Tok::RBrace; ++pos_; return;
        case '(': t.type = Tok::LParen; ++pos_; return;
        case ')': t.type = Tok::RParen; ++pos_; return;
        case ',': t.type = Tok::Comma; ++pos_; return;
        case ':': t.type = Tok::Colon; ++pos_; return;
        case '@': t.type = Tok::Current; ++pos_; return;
        case '[':
            if (peek(1) == ']') {
                t.type = Tok::Flatten;
                pos_ += 2;
            } else {
                one_or_two(t, Tok::LBracket, '?', Tok::Filter);
            }
            return;
        case '|': one_or_two(t, Tok::Pipe, '|', Tok::Or); return;
        case '&': one_or_two(t, Tok::Expref, '&', Tok::And); return;
        case '<': one_or_two(t, Tok::Lt, '=', Tok::Lte); return;
        case '>': one_or_two(t, Tok::Gt, '=', Tok::Gte); return;
        case '!': one_or_two(t, Tok::Not, '=', Tok::Ne); return;
        case '=':
            if (peek(1) != '=')
                fail("'=' is not an operator (use '==' to compare)", pos_);
            t.type = Tok::Eq;
            pos_ += 2;
            return;
        case '"': {
            std::size_t start = pos_;
            std::string body = until('"', "quoted identifier");
            try {
                t.text = Json::parse("\"" + body + "\"").get<std::string>();
            } catch (const Json::exception&) {
                fail("invalid quoted identifier \"" + body + "\"", start);
            }
            t.type = Tok::QuotedIdentifier;
            return;
        }
        case '\'':
            t.value = replace_escape(until('\'', "raw string"), '\'');
            t.type = Tok::Literal;
            return;
        case '`': {
            std::size_t start = pos_;
            std::string body = replace_escape(until('`', "literal"), '`');
            if (json_nesting(body) > kMaxLiteralNesting)
                fail("JSON literal nested deeper than " + std::to_string(kMaxLiteralNesting) + " levels", start);
            try {
                t.value = Json::parse(body);
            } catch (const Json::exception&) {
                fail("invalid JSON literal `" + body + "`", start);
            }
            t.type = Tok::Literal;
            return;
        }
        default:
            break;
        }
        if (c == '-' || is_digit(c)) {
            read_number(t);
            return;
        }
        if (is_identifier_start(c)) {
            std::size_t start = pos_;
            while (is_identifier_char(peek()))
                ++pos_;
            t.type = Tok::UnquotedIdentifier;
            t.text = std::string(text_.substr(start, pos_ - start));
            return;
        }
        fail(std::string("unexpected character '") + c + "'", pos_);
    }
};

} // namespace

std::string describe(const Token& token)
{
    switch (token.type) {
    case Tok::Eof: return "end of expression";
    case Tok::UnquotedIdentifier: return "identifier '" + token.text + "'";
    case Tok::QuotedIdentifier: return "quoted identifier \"" + token.text + "\"";
    case Tok::Literal: return "literal " + token.value.dump(-1, ' ', false, Json::error_handler_t::replace);
    case Tok::Number: return "number " + token.text;
    case Tok::Dot: return "'.'";
    case Tok::Star: return "'*'";
    case Tok::Flatten: return "'[]'";
    case Tok::Filter: return "'[?'";
    case Tok::LBracket: return "'['";
    case Tok::RBracket: return "']'";
    case Tok::LBrace: return "'{'";
    case Tok::RBrace: return "'}'";
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::Comma: return "','";
    case Tok::Colon: return "':'";
    case Tok::Pipe: return "'|'";
    case Tok::Or: return "'||'";
    case Tok::And: return "'&&'";
    case Tok::Not: return "'!'";
    case Tok::Expref: return "'&'";
    case Tok::Current: return "'@'";
    case Tok::Eq: return "'=='";
    case Tok::Ne: return "'!='";
    case Tok::Lt: return "'<'";
    case Tok::Lte: return "'<='";
    case Tok::Gt: return "'>'";
    case Tok::Gte: return "'>='";
    }
    return "token";
}

std::vector<Token> tokenize(std::string_view expression)
{
    return Lexer(expression).run();
}

} // namespace jmespath
