// TerminalText: what a guest's console may put on the viewer's terminal.
#include "tools/qt-vmm/terminal_text.h"

#include <doctest/doctest.h>

using qtvmm::TerminalText;

namespace {

std::string clean(std::string_view bytes)
{
    TerminalText filter;
    return filter.feed(bytes) + filter.finish();
}

const std::string kFffd = "\xEF\xBF\xBD";

} // namespace

TEST_CASE("terminal text: plain text, newlines, tabs and carriage returns pass unchanged")
{
    CHECK(clean("hello world\r\n\tindented ~!\n") == "hello world\r\n\tindented ~!\n");
}

TEST_CASE("terminal text: ESC and other C0 controls and DEL become visible escapes")
{
    CHECK(clean("\x1b]0;owned\x07red\x1b[31m") == "\\x1b]0;owned\\x07red\\x1b[31m");
    CHECK(clean(std::string("a\0b", 3)) == "a\\x00b");
    CHECK(clean("\x08\x0b\x0c\x7f") == "\\x08\\x0b\\x0c\\x7f");
}

TEST_CASE("terminal text: printable UTF-8 passes, C1 controls in UTF-8 form are escaped")
{
    CHECK(clean("gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80") == "gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80");
    CHECK(clean("\xC2\x9B" "31m") == "\\u009b31m"); // CSI as U+009B
    CHECK(clean("\xC2\x85") == "\\u0085");
    CHECK(clean("\xC2\xA0") == "\xC2\xA0"); // U+00A0 is printable
}

TEST_CASE("terminal text: malformed UTF-8 becomes U+FFFD, never raw 8-bit controls")
{
    CHECK(clean("\x9b" "31m") == kFffd + "31m");             // a raw 8-bit CSI
    CHECK(clean("\xC0\xAF") == kFffd + kFffd);               // overlong '/'
    CHECK(clean("\xED\xA0\x80") == kFffd + kFffd + kFffd);   // a surrogate
    CHECK(clean("\xF4\x90\x80\x80") == kFffd + kFffd + kFffd + kFffd); // past U+10FFFF
    CHECK(clean("\xE2\x82" "A") == kFffd + "A");             // cut short
    CHECK(clean("\xFF\xFE") == kFffd + kFffd);
}

TEST_CASE("terminal text: a sequence split across reads is joined; one left open at the end is U+FFFD")
{
    TerminalText filter;
    CHECK(filter.feed("x\xE2") == "x");
    CHECK(filter.feed("\x82") == "");
    CHECK(filter.feed("\xAC" "y") == "\xE2\x82\xAC" "y");
    CHECK(filter.feed("\xF0\x9F") == "");
    CHECK(filter.finish() == kFffd);
    CHECK(filter.feed("z") == "z");
}
