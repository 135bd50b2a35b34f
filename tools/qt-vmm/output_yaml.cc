#include "tools/qt-vmm/output_yaml.h"

#include "tools/qt-vmm/output_colours.h"
#include "tools/qt-vmm/output_python.h"
#include "tools/qt-vmm/output_yaml_resolver.h"

#include <cmath>

namespace qtvmm {

namespace {

// What a piece of output is, for yamlc: keys, quoted scalars (words and blanks coloured apart),
// blanks between tokens (indentation, after ':' and '-'), the '...' end marker, or plain text.
enum class Kind { Text, Key, Quoted, Blank, DocumentEnd };
constexpr std::size_t kBestWidth = 80;
constexpr int kBestIndent = 2;

std::u32string decode(const std::string& s)
{
    std::u32string out;
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
        char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        if (len > 1 && i + static_cast<std::size_t>(len) > s.size())
            len = 1, cp = 0xFFFD;
        for (int k = 1; k < len; ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
        out += cp;
        i += static_cast<std::size_t>(len);
    }
    return out;
}

std::string encode(const std::u32string& s)
{
    std::string out;
    for (char32_t c : s) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

bool is_break(char32_t c)
{
    return c == U'\n' || c == 0x85 || c == 0x2028 || c == 0x2029;
}

bool is_blank_or_end(const std::u32string& s, std::size_t i)
{
    return i >= s.size() || s[i] == 0 || s[i] == U' ' || s[i] == U'\t' || s[i] == U'\r' || is_break(s[i]);
}

bool is_printable_unicode(char32_t c)
{
    return c == 0x85 || (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c < 0x10FFFF);
}

// PyYAML's Emitter.analyze_scalar, reduced to what block style needs.
struct Analysis {
    bool empty = false;
    bool multiline = false;
    bool allow_plain = true;
    bool allow_single_quoted = true;
};

Analysis analyze(const std::u32string& s)
{
    Analysis a;
    if (s.empty()) {
        a.empty = true;
        return a;
    }
    bool block_indicators = false, line_breaks = false, special = false;
    bool leading_space = false, leading_break = false, trailing_space = false, trailing_break = false;
    bool break_space = false, space_break = false, previous_space = false, previous_break = false;
    if (s.rfind(U"---", 0) == 0 || s.rfind(U"...", 0) == 0)
        block_indicators = true;
    bool preceded_by_whitespace = true;
    bool followed_by_whitespace = is_blank_or_end(s, 1);
    for (std::size_t i = 0; i < s.size(); ++i) {
        char32_t c = s[i];
        if (i == 0) {
            if (std::u32string_view(U"#,[]{}&*!|>'\"%@`").find(c) != std::u32string_view::npos)
                block_indicators = true;
            if ((c == U'?' || c == U':' || c == U'-') && followed_by_whitespace)
                block_indicators = true;
        } else if ((c == U':' && followed_by_whitespace) || (c == U'#' && preceded_by_whitespace)) {
            block_indicators = true;
        }
        if (is_break(c))
            line_breaks = true;
        if (!(c == U'\n' || (c >= 0x20 && c <= 0x7E)) && !(is_printable_unicode(c) && c != 0xFEFF))
            special = true;
        if (c == U' ') {
            leading_space = leading_space || i == 0;
            trailing_space = trailing_space || i + 1 == s.size();
            break_space = break_space || previous_break;
            previous_space = true;
            previous_break = false;
        } else if (is_break(c)) {
            leading_break = leading_break || i == 0;
            trailing_break = trailing_break || i + 1 == s.size();
            space_break = space_break || previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = previous_break = false;
        }
        preceded_by_whitespace = c == 0 || c == U' ' || c == U'\t' || c == U'\r' || is_break(c);
        followed_by_whitespace = is_blank_or_end(s, i + 2);
    }
    a.multiline = line_breaks;
    if (leading_space || leading_break || trailing_space || trailing_break || line_breaks || block_indicators)
        a.allow_plain = false;
    if (break_space || space_break || special)
        a.allow_plain = a.allow_single_quoted = false;
    return a;
}

// The parts of PyYAML's Emitter that block-style output uses, with its column bookkeeping.
class YamlWriter {
public:
    explicit YamlWriter(bool color)
        : color_(color)
    {
    }

    std::string document(const Json& v)
    {
        if (v.is_object() && !v.empty()) {
            mapping(v, 0);
        } else if (v.is_array() && !v.empty()) {
            sequence(v, 0);
        } else {
            root_ = true;
            node(v, kBestIndent, false);
        }
        write_indent(0);
        if (open_ended_) {
            indicator("...", true, false, false, Kind::DocumentEnd);
            write_indent(0);
        }
        return std::move(out_);
    }

private:
    bool color_;
    std::string out_;
    std::size_t column_ { 0 };
    bool whitespace_ { true };
    bool indention_ { true };
    bool root_ { false };
    bool open_ended_ { false };

    void paint(const std::u32string& text, const char* colour)
    {
        out_ += colours::wrap(colour, encode(text));
    }

    void write(const std::u32string& text, Kind kind = Kind::Text)
    {
        column_ += text.size();
        if (!color_ || kind == Kind::Text) {
            out_ += encode(text);
        } else if (kind == Kind::Quoted) {
            for (std::size_t i = 0; i < text.size();) {
                bool blank = text[i] == U' ';
                std::size_t j = i;
                while (j < text.size() && (text[j] == U' ') == blank)
                    ++j;
                paint(text.substr(i, j - i), blank ? colours::kStringBlank : colours::kString);
                i = j;
            }
        } else {
            paint(text, kind == Kind::Key ? colours::kNameTag : kind == Kind::Blank ? colours::kWhitespace : colours::kDocumentEnd);
        }
    }

    void line_break()
    {
        if (color_)
            paint(U"", colours::kWhitespace);
        out_ += '\n';
        whitespace_ = indention_ = true;
        column_ = 0;
    }

    void write_indent(std::size_t indent)
    {
        if (!indention_ || column_ > indent || (column_ == indent && !whitespace_))
            line_break();
        if (column_ < indent) {
            whitespace_ = true;
            write(std::u32string(indent - column_, U' '), Kind::Blank);
        }
    }

    void indicator(const char* text, bool need_whitespace, bool whitespace = false, bool indention = false,
        Kind kind = Kind::Text)
    {
        if (!whitespace_ && need_whitespace)
            write(U" ", Kind::Blank);
        write(decode(text), kind);
        whitespace_ = whitespace;
        indention_ = indention_ && indention;
    }

    void mapping(const Json& m, std::size_t indent)
    {
        for (auto it = m.begin(); it != m.end(); ++it) {
            write_indent(indent);
            scalar(it.key(), indent + kBestIndent, true);
            indicator(":", false);
            const Json& v = it.value();
            if (v.is_object() && !v.empty())
                mapping(v, indent + kBestIndent);
            else if (v.is_array() && !v.empty())
                sequence(v, indent); // a sequence in a mapping is not indented
            else
                node(v, indent + kBestIndent, false);
        }
    }

    void sequence(const Json& s, std::size_t indent)
    {
        for (const auto& v : s) {
            write_indent(indent);
            indicator("-", true, false, true);
            if (v.is_object() && !v.empty())
                mapping(v, indent + kBestIndent);
            else if (v.is_array() && !v.empty())
                sequence(v, indent + kBestIndent);
            else
                node(v, indent + kBestIndent, false);
        }
    }

    // A scalar, or an empty collection in flow style.
    void node(const Json& v, std::size_t indent, bool key)
    {
        if (v.is_array() && v.empty()) {
            indicator("[", true, true);
            indicator("]", false);
        } else if (v.is_object() && v.empty()) {
            indicator("{", true, true);
            indicator("}", false);
        } else if (v.is_string()) {
            scalar(v.get<std::string>(), indent, key);
        } else if (v.is_null()) {
            plain(U"null", indent, true);
        } else if (v.is_boolean()) {
            plain(v.get<bool>() ? U"true" : U"false", indent, true);
        } else if (v.is_number_float()) {
            plain(decode(yaml_float(v.get<double>())), indent, true);
        } else {
            plain(decode(v.dump()), indent, true);
        }
    }

    static std::string yaml_float(double d)
    {
        if (std::isnan(d))
            return ".nan";
        if (std::isinf(d))
            return d < 0 ? "-.inf" : ".inf";
        std::string repr = python_float(d);
        if (repr.find('.') == std::string::npos && repr.find('e') != std::string::npos)
            repr.replace(repr.find('e'), 1, ".0e");
        return repr;
    }

    void scalar(const std::string& text, std::size_t indent, bool key)
    {
        std::u32string s = decode(text);
        Analysis a = analyze(s);
        bool split = !key;
        if (!yaml_resolves_to_non_string(text) && !(key && (a.empty || a.multiline)) && a.allow_plain)
            plain(s, indent, split, key ? Kind::Key : Kind::Text);
        else if (a.allow_single_quoted && !(key && a.multiline))
            single_quoted(s, indent, split, key ? Kind::Key : Kind::Quoted);
        else
            double_quoted(s, indent, split, key ? Kind::Key : Kind::Quoted);
    }

    void plain(const std::u32string& text, std::size_t indent, bool split, Kind kind = Kind::Text)
    {
        if (root_)
            open_ended_ = true;
        if (text.empty())
            return;
        if (!whitespace_)
            write(U" ", Kind::Blank);
        whitespace_ = indention_ = false;
        bool spaces = false;
        std::size_t start = 0;
        for (std::size_t end = 0; end <= text.size(); ++end) {
            char32_t ch = end < text.size() ? text[end] : 0;
            bool at_end = end == text.size();
            if (spaces) {
                if (at_end || ch != U' ') {
                    if (start + 1 == end && column_ > kBestWidth && split) {
                        write_indent(indent);
                        whitespace_ = indention_ = false;
                    } else {
                        write(text.substr(start, end - start));
                    }
                    start = end;
                }
            } else if (at_end || ch == U' ' || is_break(ch)) {
                write(text.substr(start, end - start), kind);
                start = end;
            }
            if (!at_end)
                spaces = ch == U' ';
        }
    }

    void single_quoted(const std::u32string& text, std::size_t indent, bool split, Kind kind)
    {
        indicator("'", true, false, false, kind);
        bool spaces = false, breaks = false;
        std::size_t start = 0;
        for (std::size_t end = 0; end <= text.size(); ++end) {
            bool at_end = end == text.size();
            char32_t ch = at_end ? 0 : text[end];
            if (spaces) {
                if (at_end || ch != U' ') {
                    if (start + 1 == end && column_ > kBestWidth && split && start != 0 && end != text.size())
                        write_indent(indent);
                    else
                        write(text.substr(start, end - start), kind);
                    start = end;
                }
            } else if (breaks) {
                if (at_end || !is_break(ch)) {
                    if (text[start] == U'\n')
                        line_break();
                    for (std::size_t i = start; i < end; ++i) {
                        if (text[i] == U'\n') {
                            line_break();
                        } else {
                            out_ += encode(std::u32string(1, text[i]));
                            whitespace_ = indention_ = true;
                            column_ = 0;
                        }
                    }
                    write_indent(indent);
                    start = end;
                }
            } else if (at_end || ch == U' ' || is_break(ch) || ch == U'\'') {
                if (start < end) {
                    write(text.substr(start, end - start), kind);
                    start = end;
                }
            }
            if (ch == U'\'') {
                write(U"''", kind);
                start = end + 1;
            }
            if (!at_end) {
                spaces = ch == U' ';
                breaks = is_break(ch);
            }
        }
        indicator("'", false, false, false, kind);
    }

    static std::u32string escape(char32_t c)
    {
        switch (c) {
        case 0: return U"\\0";
        case 0x07: return U"\\a";
        case 0x08: return U"\\b";
        case 0x09: return U"\\t";
        case 0x0A: return U"\\n";
        case 0x0B: return U"\\v";
        case 0x0C: return U"\\f";
        case 0x0D: return U"\\r";
        case 0x1B: return U"\\e";
        case U'"': return U"\\\"";
        case U'\\': return U"\\\\";
        case 0x85: return U"\\N";
        case 0xA0: return U"\\_";
        case 0x2028: return U"\\L";
        case 0x2029: return U"\\P";
        default: break;
        }
        char buf[16];
        if (c <= 0xFF)
            std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(c));
        else if (c <= 0xFFFF)
            std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
        else
            std::snprintf(buf, sizeof buf, "\\U%08X", static_cast<unsigned>(c));
        return decode(buf);
    }

    void double_quoted(const std::u32string& text, std::size_t indent, bool split, Kind kind)
    {
        indicator("\"", true, false, false, kind);
        std::size_t start = 0;
        for (std::size_t end = 0; end <= text.size(); ++end) {
            bool at_end = end == text.size();
            char32_t ch = at_end ? 0 : text[end];
            bool plain_char = (ch >= 0x20 && ch <= 0x7E) || (ch >= 0xA0 && ch <= 0xD7FF) || (ch >= 0xE000 && ch <= 0xFFFD);
            if (at_end || ch == U'"' || ch == U'\\' || ch == 0x85 || ch == 0x2028 || ch == 0x2029 || ch == 0xFEFF || !plain_char) {
                if (start < end) {
                    write(text.substr(start, end - start), kind);
                    start = end;
                }
                if (!at_end) {
                    write(escape(ch), kind);
                    start = end + 1;
                }
            }
            if (end > 0 && end + 1 < text.size() && (ch == U' ' || start >= end) && column_ + (end - start) > kBestWidth && split) {
                std::u32string data = text.substr(start, end > start ? end - start : 0) + U"\\";
                if (start < end)
                    start = end;
                write(data, kind);
                write_indent(indent);
                whitespace_ = indention_ = false;
                if (text[start] == U' ')
                    write(U"\\", kind);
            }
        }
        indicator("\"", false, false, false, kind);
    }
};

} // namespace

std::string format_yaml(const Json& value, bool color)
{
    return YamlWriter(color).document(value);
}

} // namespace qtvmm
