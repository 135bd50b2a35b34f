// base/utf8.h — text from an untrusted source (a guest, a peer) made safe to show and to put in
// JSON: invalid UTF-8 sequences become U+FFFD, control characters other than tab become U+FFFD,
// and the result is cut at a character boundary to a byte limit.
//
//     std::string reason = base::sanitize_utf8(record.reason, 64);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace base {

std::string sanitize_utf8(std::string_view text, std::size_t max_bytes);

} // namespace base
