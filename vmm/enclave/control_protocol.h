// vmm/enclave/control_protocol.h — requests to an enclave daemon over its Unix control socket.
//
// Wire format: the client sends one JSON object on one line, e.g. {"op":"describe"}; the daemon
// answers one JSON object on one line: {"ok":true,"enclave":{...}} or
// {"ok":false,"code":"...","kind":N,"message":"..."}. For {"op":"console"} an ok answer is followed
// by the raw console stream until the enclave ends or the client hangs up.
// Ops: describe (anyone), stop and console (the enclave's owner or root; checked with
// SO_PEERCRED by the daemon).
//
// Usage:
//     vmm::Json reply = vmm::control_request(dir.socket_path(id), {{"op", "describe"}});
//     base::UniqueFd stream = vmm::control_open(path, {{"op","console"}}); // after the ok line
#pragma once

#include "base/file.h"

#include <nlohmann/json.hpp>
#include <string>

namespace vmm {

using Json = nlohmann::ordered_json;

// Connects, sends `request`, returns the reply's JSON. Throws base::Error on a refused connection
// (code DAEMON_GONE) or on an error reply (the daemon's code, kind and message).
Json control_request(const std::string& socket_path, const Json& request, int timeout_ms = 3000);

// Like control_request but returns the connected socket after a successful reply line, for
// streaming ops (console).
base::UniqueFd control_open(const std::string& socket_path, const Json& request, int timeout_ms = 3000);

// Helpers for the daemon side.
std::string encode_line(const Json& value);
Json error_reply(const std::string& code, int kind, const std::string& message);

} // namespace vmm
