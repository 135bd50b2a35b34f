#include "tools/qt-vmm/output_yaml_resolver.h"

#include <array>

namespace qtvmm {

namespace {

constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kDigitsOrUnderscore = "0123456789_";
constexpr std::size_t kAny = static_cast<std::size_t>(-1);

// A position in the text and the few matching steps the resolvers' patterns need.
struct Cursor {
    std::string_view s;
    std::size_t i { 0 };

    bool end() const { return i == s.size(); }
    bool take(char c)
    {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    bool take_any(std::string_view set)
    {
        if (i < s.size() && set.find(s[i]) != std::string_view::npos) {
            ++i;
            return true;
        }
        return false;
    }
    bool take_word(std::string_view word)
    {
        if (s.substr(i, word.size()) != word)
            return false;
        i += word.size();
        return true;
    }
    // Takes up to `most` characters of the set; returns how many it took.
    std::size_t run(std::string_view set, std::size_t most = kAny)
    {
        std::size_t n = 0;
        while (n < most && take_any(set))
            ++n;
        return n;
    }
};

// (?::[0-5]?[0-9])+
bool sexagesimal(Cursor& c)
{
    bool any = false;
    while (c.take(':')) {
        bool two = c.i + 1 < c.s.size() && c.s[c.i] >= '0' && c.s[c.i] <= '5' && kDigits.find(c.s[c.i + 1]) != std::string_view::npos;
        if (two)
            c.i += 2;
        else if (!c.take_any(kDigits))
            return false;
        any = true;
    }
    return any;
}

// (?:[eE][-+][0-9]+)?
void exponent(Cursor& c)
{
    Cursor e = c;
    if (e.take_any("eE") && e.take_any("-+") && e.run(kDigits) > 0)
        c = e;
}

bool is_int(const Cursor& signed_start)
{
    Cursor c = signed_start;
    c.take_any("-+");
    auto whole = [](Cursor d, auto&& steps) { return steps(d) && d.end(); };
    return whole(c, [](Cursor& d) { return d.take_word("0b") && d.run("01_") > 0; })
        || whole(c, [](Cursor& d) { return d.take('0') && d.run("01234567_") > 0; })
        || whole(c, [](Cursor& d) { return d.take('0'); })
        || whole(c, [](Cursor& d) { return d.take_any("123456789") && (d.run(kDigitsOrUnderscore), true); })
        || whole(c, [](Cursor& d) { return d.take_word("0x") && d.run("0123456789abcdefABCDEF_") > 0; })
        || whole(c, [](Cursor& d) { return d.take_any("123456789") && (d.run(kDigitsOrUnderscore), sexagesimal(d)); });
}

bool is_float(const Cursor& start)
{
    Cursor c = start;
    c.take_any("-+");
    auto whole = [](Cursor d, auto&& steps) { return steps(d) && d.end(); };
    return whole(c, [](Cursor& d) {
        if (!d.take_any(kDigits))
            return false;
        d.run(kDigitsOrUnderscore);
        if (!d.take('.'))
            return false;
        d.run(kDigitsOrUnderscore);
        exponent(d);
        return true;
    }) || whole(start, [](Cursor& d) {
        if (!d.take('.') || !d.take_any(kDigits))
            return false;
        d.run(kDigitsOrUnderscore);
        exponent(d);
        return true;
    }) || whole(c, [](Cursor& d) {
        if (!d.take_any(kDigits))
            return false;
        d.run(kDigitsOrUnderscore);
        if (!sexagesimal(d) || !d.take('.'))
            return false;
        d.run(kDigitsOrUnderscore);
        return true;
    }) || whole(c, [](Cursor& d) { return d.take_word(".inf") || d.take_word(".Inf") || d.take_word(".INF"); })
        || whole(start, [](Cursor& d) { return d.take_word(".nan") || d.take_word(".NaN") || d.take_word(".NAN"); });
}

bool is_timestamp(const Cursor& start)
{
    auto whole = [](Cursor d, auto&& steps) { return steps(d) && d.end(); };
    auto one_or_two = [](Cursor& d) {
        std::size_t n = d.run(kDigits, 2);
        return n >= 1;
    };
    return whole(start, [](Cursor& d) {
        return d.run(kDigits, 4) == 4 && d.take('-') && d.run(kDigits, 2) == 2 && d.take('-') && d.run(kDigits, 2) == 2;
    }) || whole(start, [&](Cursor& d) {
        if (!(d.run(kDigits, 4) == 4 && d.take('-') && one_or_two(d) && d.take('-') && one_or_two(d)))
            return false;
        if (!d.take_any("Tt") && d.run(" \t") == 0)
            return false;
        if (!(one_or_two(d) && d.take(':') && d.run(kDigits, 2) == 2 && d.take(':') && d.run(kDigits, 2) == 2))
            return false;
        if (d.take('.'))
            d.run(kDigits);
        Cursor zone = d;
        zone.run(" \t");
        if (zone.take('Z')) {
            d = zone;
        } else if (zone.take_any("-+") && one_or_two(zone)) {
            Cursor minutes = zone;
            if (minutes.take(':') && minutes.run(kDigits, 2) == 2)
                zone = minutes;
            d = zone;
        }
        return true;
    });
}

} // namespace

bool yaml_resolves_to_non_string(std::string_view text)
{
    if (!text.empty() && text.back() == '\n')
        text.remove_suffix(1); // Python's $ also matches before a final line break
    static constexpr std::array<std::string_view, 25> kWords = { "yes", "Yes", "YES", "no", "No", "NO", "true", "True",
        "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", "", "<<", "=" };
    for (std::string_view w : kWords)
        if (text == w)
            return true;
    Cursor c { text };
    return is_int(c) || is_float(c) || is_timestamp(c);
}

} // namespace qtvmm
