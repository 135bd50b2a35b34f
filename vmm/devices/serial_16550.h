// vmm/devices/serial_16550.h — a 16550A UART used as a write-only sink: on port I/O (x86 COM1,
// 0x3f8, IRQ 4) or on MMIO with byte-wide registers, reg-shift 0 (arm64, "ns16550a" in the
// device tree); which and where is the architecture's choice (vmm/arch/machine_arch.h).
//
// The guest can configure it and write to it exactly as Linux's 8250 driver expects (registers
// read back, loopback mode, FIFO identification, THR-empty interrupts), but it never delivers
// input: RBR is always empty and LSR never reports data ready. Output bytes go to a sink
// (the console ring in debug mode, nowhere otherwise); a slow reader can never stall the guest.
//
// Usage:
//     vmm::Serial16550 uart([&](bool level) { vm.set_irq_line(4, level); },
//                           [&](std::uint8_t b) { console.append(b); });
//     bus.add_ports(0x3f8, 8, &uart);                // or bus.add_mmio(0x01000000, 0x1000, &uart)
#pragma once

#include "vmm/devices/io_bus.h"

#include <cstdint>
#include <functional>
#include <mutex>

namespace vmm {

class Serial16550 final : public PortDevice, public MmioDevice {
public:
    using IrqLine = std::function<void(bool level)>;
    using Sink = std::function<void(std::uint8_t byte)>;

    Serial16550(IrqLine irq, Sink sink);

    void port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size) override;
    void port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size) override;
    // The same registers at MMIO offsets 0..7; the rest of the page reads 0xff, ignores writes.
    void mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size) override;
    void mmio_write(std::uint64_t offset, const std::uint8_t* data, std::size_t size) override;

    std::uint64_t bytes_written() const { return m_bytes; }

private:
    std::uint8_t read_register(std::uint16_t offset);
    void write_register(std::uint16_t offset, std::uint8_t value);
    void update_irq();

    std::mutex m_lock;
    IrqLine m_irq;
    Sink m_sink;
    std::uint8_t m_ier { 0 };
    std::uint8_t m_lcr { 0 };
    std::uint8_t m_mcr { 0x08 }; // OUT2
    std::uint8_t m_fcr { 0 };
    std::uint8_t m_scr { 0 };
    std::uint8_t m_dll { 0x0c };
    std::uint8_t m_dlm { 0 };
    bool m_thr_empty_pending { false };
    bool m_irq_level { false };
    std::uint64_t m_bytes { 0 };
};

} // namespace vmm
