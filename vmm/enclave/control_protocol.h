// vmm/enclave/control_protocol.h — requests to an enclave daemon over its Unix control socket.
//
// Wire format: the client sends one JSON object on one line (at most kMaxRequestBytes), e.g.
// {"op":"describe"}; the daemon answers one JSON object on one line: {"ok":true,"enclave":{...}}
// or {"ok":false,"code":"...","kind":N,"message":"..."}. For {"op":"console"} an ok answer is
// followed by the raw console stream until the enclave ends or the client hangs up.
// Ops: describe (anyone), stop and console (the enclave's owner or root; checked with
// SO_PEERCRED by the daemon). console takes an optional boolean "follow" (default true).
// Anything else — not JSON, not an object, "op" not a string, an unknown op, a field of the
// wrong type — is refused with BAD_REQUEST and a message that says what was wrong.
//
// Both directions are parsed here by pure functions (parse_request, parse_reply), which the
// unit tests and the libFuzzer target (control_protocol_fuzz.cc) drive directly.
//
// Usage:
//     vmm::Json reply = vmm::control_request(dir.socket_path(id), {{"op", "describe"}});
//     base::UniqueFd stream = vmm::control_open(path, {{"op","console"}}); // after the ok line
//     vmm::ControlRequest r = vmm::parse_request(line);   // daemon side; throws BAD_REQUEST
#pragma once

#include "base/file.h"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace vmm {

using Json = nlohmann::ordered_json;

// The longest request line the daemon reads (without the newline).
inline constexpr std::size_t kMaxRequestBytes = 4096;

enum class ControlOp { Describe, Stop, Console };

struct ControlRequest {
    ControlOp op { ControlOp::Describe };
    bool follow { true }; // console: keep streaming (false: a snapshot)
};

// Parses one request line (without its newline). Throws base::Error BAD_REQUEST (kind Usage)
// naming what is wrong; never anything else.
ControlRequest parse_request(std::string_view line);

// Parses one reply line from `socket_path`'s daemon: the reply object if ok; throws base::Error
// with the daemon's code, kind and message for an error reply, DAEMON_PROTOCOL for a malformed one.
Json parse_reply(std::string_view line, const std::string& socket_path);

// Connects, sends `request`, returns the reply's JSON; connecting, sending and the whole reply
// take at most `timeout_ms` together. Throws base::Error DAEMON_GONE when nobody listens on the
// socket (ECONNREFUSED, ENOENT: the daemon is dead), DAEMON_TIMEOUT when it does not answer in
// time (stopped, stuck or its backlog full: it is alive), or the daemon's own error.
Json control_request(const std::string& socket_path, const Json& request, int timeout_ms = 3000);

// Like control_request but returns the connected socket after a successful reply line, for
// streaming ops (console).
base::UniqueFd control_open(const std::string& socket_path, const Json& request, int timeout_ms = 3000);

// Helpers for the daemon side. encode_line never throws: invalid UTF-8 in a string becomes U+FFFD.
std::string encode_line(const Json& value);
Json error_reply(const std::string& code, int kind, const std::string& message);

} // namespace vmm
