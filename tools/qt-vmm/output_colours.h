// tools/qt-vmm/output_colours.h — the ANSI colours Pygments' TerminalFormatter gives the tokens of
// knack's jsonc and yamlc (its default, dark-background palette), and how it wraps a token.
//
// Usage:
//     out += qtvmm::colours::wrap(qtvmm::colours::kNameTag, "\"key\"");
#pragma once

#include <string>

namespace qtvmm::colours {

inline constexpr const char* kNameTag = "\x1b[94m";       // object keys (brightblue)
inline constexpr const char* kString = "\x1b[33m";        // strings (yellow)
inline constexpr const char* kConstant = "\x1b[34m";      // numbers, true, false, null in JSON (blue)
inline constexpr const char* kWhitespace = "\x1b[37m";    // blanks between tokens (gray)
inline constexpr const char* kStringBlank = "\x1b[31m";   // blanks inside a quoted YAML scalar (red)
inline constexpr const char* kDocumentEnd = "\x1b[04m\x1b[36m"; // YAML's '...' (underlined cyan)
inline constexpr const char* kReset = "\x1b[39;49;00m";

inline std::string wrap(const char* colour, const std::string& text)
{
    return colour + text + kReset;
}

} // namespace qtvmm::colours
