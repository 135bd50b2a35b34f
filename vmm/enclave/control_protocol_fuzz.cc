// libFuzzer target for the enclave daemon's control protocol (control_protocol.h): the same
// bytes as a request line (what any local peer of <run>/<id>.sock may send) and as a reply
// line (what the CLI reads from a daemon). A request either parses into a known op or is one
// base::Error BAD_REQUEST with a one-line message; a reply is an object or one base::Error;
// the daemon's error reply for any message encodes to exactly one line. Nothing else may
// escape and nothing may crash. Seeds: vmm/enclave/make_control_fuzz_seeds.sh (`make fuzz`).
#include "base/error.h"
#include "vmm/enclave/control_protocol.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check_one_line(const std::string& text)
{
    if (text.find('\n') != std::string::npos)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view line(reinterpret_cast<const char*>(data), size);
    try {
        vmm::ControlRequest request = vmm::parse_request(line);
        if (request.op != vmm::ControlOp::Describe && request.op != vmm::ControlOp::Stop && request.op != vmm::ControlOp::Console)
            std::abort();
    } catch (const base::Error& e) {
        if (e.code() != "BAD_REQUEST" || e.kind() != base::ErrorKind::Usage)
            std::abort();
        check_one_line(e.what());
    }
    try {
        if (!vmm::parse_reply(line, "/run/qt-vmm/0.sock").is_object())
            std::abort();
    } catch (const base::Error& e) {
        if (e.code().empty())
            std::abort();
    }
    std::string encoded = vmm::encode_line(vmm::error_reply("BAD_REQUEST", 2, std::string(line)));
    if (encoded.empty() || encoded.back() != '\n')
        std::abort();
    check_one_line(encoded.substr(0, encoded.size() - 1));
    return 0;
}
