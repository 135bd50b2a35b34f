// tools/qt-vmm/terminal_text.h — makes a guest's console bytes safe to print on a terminal. A
// guest controls every byte of its console; written raw, ESC sequences and other control codes
// reach the viewer's terminal (retitle it, remap keys, answer-back into the shell's input). The
// filter keeps "\n", "\t", "\r", printable ASCII and well-formed printable UTF-8; it writes every
// other C0 control and DEL as a visible `\xNN` (ESC → `\x1b`), a C1 control (U+0080–U+009F) as
// `\u0085`, and malformed UTF-8 (overlong, surrogate, out of range, a stray continuation) as
// U+FFFD, one per maximal bad subsequence as Unicode recommends. A UTF-8 sequence split across
// two reads is kept until the next read.
//
// Usage (the console viewer, unless --raw):
//     qtvmm::TerminalText filter;
//     out = filter.feed(chunk);   // for every chunk read, in order
//     out = filter.finish();      // at the end: a sequence left unfinished becomes U+FFFD
#pragma once

#include <string>
#include <string_view>

namespace qtvmm {

class TerminalText {
public:
    std::string feed(std::string_view bytes);
    std::string finish();

private:
    std::string m_partial; // the start of a UTF-8 sequence the last chunk ended in
};

} // namespace qtvmm
