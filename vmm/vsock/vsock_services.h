// vmm/vsock/vsock_services.h — the parent-side services the VMM serves itself on CID 3, instead
// of forwarding them to a Unix socket:
//   port 9000  heartbeat: one byte 0xB7 in, 0xB7 out, then "heartbeat received" (Nitro contract)
//   port 9001  app status: one 64-byte guest-init StatusRecord in, 0x06 out, record handed on
//              (a record that does not decode, or whose reason is not UTF-8, resets the connection)
// A service sees the guest's bytes in order and produces the bytes to send back; anything that
// breaks its protocol (wrong byte, too many bytes, a record that does not decode) makes
// receive() return false and the connection is reset.
//
// Usage:
//     auto service = make_local_service(port, callbacks);   // nullptr: not a local port
//     if (!service->receive(data, n)) reset();  std::string& reply = service->output();
#pragma once

#include "guest-init/status_protocol.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace vmm::vsock {

inline constexpr std::uint32_t kHeartbeatPort = guest_init::kHeartbeatPort;
inline constexpr std::uint32_t kStatusPort = guest_init::kStatusPort;

struct ServiceCallbacks {
    std::function<void()> on_heartbeat;
    std::function<void(const guest_init::StatusRecord&)> on_app_status;
};

class LocalService {
public:
    virtual ~LocalService() = default;
    // Consumes guest bytes; false = protocol violation (reset the connection).
    virtual bool receive(const std::uint8_t* data, std::size_t size) = 0;
    // Bytes waiting to go to the guest (the caller erases what it sent).
    std::string& output() { return m_output; }

protected:
    std::string m_output;
};

std::unique_ptr<LocalService> make_local_service(std::uint32_t port, const ServiceCallbacks& callbacks);

} // namespace vmm::vsock
