// tools/qt-vmm/terminal_text.cc — see terminal_text.h.
#include "tools/qt-vmm/terminal_text.h"

#include <cstdint>
#include <cstdio>

namespace qtvmm {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

void append_hex(std::string& out, const char* format, unsigned value)
{
    char text[8];
    std::snprintf(text, sizeof text, format, value);
    out += text;
}

// The length a UTF-8 lead byte announces and the range its second byte must fall in (which
// rules out overlong forms, surrogates and code points past U+10FFFF); 0 when `lead` starts no
// sequence of two or more bytes.
struct Lead {
    int length;
    std::uint8_t low, high;
};

Lead lead_of(std::uint8_t lead)
{
    if (lead >= 0xC2 && lead <= 0xDF)
        return { 2, 0x80, 0xBF };
    if (lead == 0xE0)
        return { 3, 0xA0, 0xBF };
    if (lead == 0xED)
        return { 3, 0x80, 0x9F };
    if (lead >= 0xE1 && lead <= 0xEF)
        return { 3, 0x80, 0xBF };
    if (lead == 0xF0)
        return { 4, 0x90, 0xBF };
    if (lead >= 0xF1 && lead <= 0xF3)
        return { 4, 0x80, 0xBF };
    if (lead == 0xF4)
        return { 4, 0x80, 0x8F };
    return { 0, 0, 0 };
}

} // namespace

std::string TerminalText::feed(std::string_view chunk)
{
    std::string bytes = std::move(m_partial);
    m_partial.clear();
    bytes.append(chunk);
    std::string out;
    out.reserve(bytes.size());
    std::size_t i = 0;
    while (i < bytes.size()) {
        auto c = static_cast<std::uint8_t>(bytes[i]);
        if (c < 0x80) {
            if ((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t' || c == '\r')
                out += static_cast<char>(c);
            else
                append_hex(out, "\\x%02x", c);
            ++i;
            continue;
        }
        Lead lead = lead_of(c);
        if (lead.length == 0) { // a continuation byte or 0xC0, 0xC1, 0xF5..0xFF
            out += kReplacement;
            ++i;
            continue;
        }
        // How much of the sequence is well formed.
        std::size_t good = 1;
        while (good < static_cast<std::size_t>(lead.length) && i + good < bytes.size()) {
            auto next = static_cast<std::uint8_t>(bytes[i + good]);
            bool ok = good == 1 ? (next >= lead.low && next <= lead.high) : (next >= 0x80 && next <= 0xBF);
            if (!ok)
                break;
            ++good;
        }
        if (good == static_cast<std::size_t>(lead.length)) {
            std::uint32_t code = c & (0xFF >> (lead.length + 1));
            for (std::size_t k = 1; k < good; ++k)
                code = (code << 6) | (static_cast<std::uint8_t>(bytes[i + k]) & 0x3F);
            if (code <= 0x9F) // C1 controls: 8-bit CSI, OSC, ... in UTF-8 form
                append_hex(out, "\\u%04x", code);
            else
                out.append(bytes, i, good);
            i += good;
        } else if (i + good == bytes.size()) { // well formed so far: the rest is in the next chunk
            m_partial.assign(bytes, i, good);
            i += good;
        } else { // the maximal well-formed prefix becomes one U+FFFD; resume at the offending byte
            out += kReplacement;
            i += good;
        }
    }
    return out;
}

std::string TerminalText::finish()
{
    std::string out = m_partial.empty() ? std::string() : std::string(kReplacement);
    m_partial.clear();
    return out;
}

} // namespace qtvmm
