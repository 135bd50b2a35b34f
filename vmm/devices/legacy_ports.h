// vmm/devices/legacy_ports.h — the few PC ports a Linux guest touches besides the UART:
//   KeyboardResetPort  0x60/0x64: the i8042 status reads "idle"; writing 0xFE to 0x64 (what the
//                      kernel does with reboot=k) ends the enclave through the `on_reset` callback.
//   CmosClock          0x70/0x71: an MC146818 that reports the host's UTC time, never "update in
//                      progress", so the guest's clock starts right and the kernel doesn't wait.
//   DebugPort          0x80: POST codes; remembers when the first write happened (launch timing).
//
// Usage:
//     vmm::KeyboardResetPort kbd([&] { machine.request_stop(ExitReason::GuestReset); });
//     bus.add_ports(0x60, 5, &kbd);
#pragma once

#include "vmm/devices/io_bus.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>

namespace vmm {

class KeyboardResetPort final : public PortDevice {
public:
    explicit KeyboardResetPort(std::function<void()> on_reset)
        : m_on_reset(std::move(on_reset))
    {
    }
    void port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size) override;
    void port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size) override;

private:
    std::function<void()> m_on_reset;
};

class CmosClock final : public PortDevice {
public:
    void port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size) override;
    void port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size) override;
    // The register value the guest would read (exposed for tests).
    std::uint8_t read_register(std::uint8_t index) const;

private:
    std::mutex m_lock;
    std::uint8_t m_index { 0 };
    std::uint8_t m_nvram[128] {};
};

class DebugPort final : public PortDevice {
public:
    void port_read(std::uint16_t, std::uint8_t* data, std::size_t size) override;
    void port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size) override;
    // Monotonic time of the first write, in ns since the epoch of steady_clock; 0 if none yet.
    std::uint64_t first_write_ns() const { return m_first_write_ns.load(); }
    std::uint8_t last_code() const { return m_last_code.load(); }

private:
    std::atomic<std::uint64_t> m_first_write_ns { 0 };
    std::atomic<std::uint8_t> m_last_code { 0 };
};

} // namespace vmm
