// vmm/devices/io_bus.h — routes a vCPU's port I/O and MMIO exits to the device that owns the
// address. Addresses nobody owns read as all ones and swallow writes (counted, never fatal):
// a guest poking at random ports or addresses must not be able to hurt the VMM.
//
// Usage:
//     vmm::IoBus bus;
//     bus.add_ports(0x3f8, 8, &serial);            // serial implements PortDevice
//     bus.add_mmio(0xd0000000, 0x1000, &virtio);   // virtio implements MmioDevice
//     bus.port_write(port, data, size);            // from the KVM_EXIT_IO handler
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmm {

class PortDevice {
public:
    virtual ~PortDevice() = default;
    // `offset` is relative to the start of the range the device was added with.
    virtual void port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size) = 0;
    virtual void port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size) = 0;
};

class MmioDevice {
public:
    virtual ~MmioDevice() = default;
    virtual void mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size) = 0;
    virtual void mmio_write(std::uint64_t offset, const std::uint8_t* data, std::size_t size) = 0;
};

class IoBus {
public:
    void add_ports(std::uint16_t base, std::uint16_t length, PortDevice* device);
    void add_mmio(std::uint64_t base, std::uint64_t length, MmioDevice* device);

    void port_read(std::uint16_t port, std::uint8_t* data, std::size_t size);
    void port_write(std::uint16_t port, const std::uint8_t* data, std::size_t size);
    void mmio_read(std::uint64_t address, std::uint8_t* data, std::size_t size);
    void mmio_write(std::uint64_t address, const std::uint8_t* data, std::size_t size);

    // Accesses that hit no device (for diagnostics and tests).
    std::uint64_t unclaimed_accesses() const { return m_unclaimed.load(std::memory_order_relaxed); }

private:
    struct PortRange {
        std::uint16_t base, length;
        PortDevice* device;
    };
    struct MmioRange {
        std::uint64_t base, length;
        MmioDevice* device;
    };
    const PortRange* find_port(std::uint16_t port, std::size_t size) const;
    const MmioRange* find_mmio(std::uint64_t address, std::size_t size) const;

    std::vector<PortRange> m_ports;
    std::vector<MmioRange> m_mmio;
    std::atomic<std::uint64_t> m_unclaimed { 0 };
};

} // namespace vmm
