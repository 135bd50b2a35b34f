#include "vmm/devices/io_bus.h"

#include <cstring>

namespace vmm {

void IoBus::add_ports(std::uint16_t base, std::uint16_t length, PortDevice* device)
{
    m_ports.push_back({ base, length, device });
}

void IoBus::add_mmio(std::uint64_t base, std::uint64_t length, MmioDevice* device)
{
    m_mmio.push_back({ base, length, device });
}

const IoBus::PortRange* IoBus::find_port(std::uint16_t port, std::size_t size) const
{
    for (const PortRange& r : m_ports) {
        if (port >= r.base && std::size_t(port - r.base) + size <= r.length)
            return &r;
    }
    return nullptr;
}

const IoBus::MmioRange* IoBus::find_mmio(std::uint64_t address, std::size_t size) const
{
    for (const MmioRange& r : m_mmio) {
        if (address >= r.base && address - r.base <= r.length && size <= r.length - (address - r.base))
            return &r;
    }
    return nullptr;
}

void IoBus::port_read(std::uint16_t port, std::uint8_t* data, std::size_t size)
{
    if (const PortRange* r = find_port(port, size)) {
        r->device->port_read(static_cast<std::uint16_t>(port - r->base), data, size);
        return;
    }
    m_unclaimed.fetch_add(1, std::memory_order_relaxed);
    std::memset(data, 0xff, size);
}

void IoBus::port_write(std::uint16_t port, const std::uint8_t* data, std::size_t size)
{
    if (const PortRange* r = find_port(port, size)) {
        r->device->port_write(static_cast<std::uint16_t>(port - r->base), data, size);
        return;
    }
    m_unclaimed.fetch_add(1, std::memory_order_relaxed);
}

void IoBus::mmio_read(std::uint64_t address, std::uint8_t* data, std::size_t size)
{
    if (const MmioRange* r = find_mmio(address, size)) {
        r->device->mmio_read(address - r->base, data, size);
        return;
    }
    m_unclaimed.fetch_add(1, std::memory_order_relaxed);
    std::memset(data, 0xff, size);
}

void IoBus::mmio_write(std::uint64_t address, const std::uint8_t* data, std::size_t size)
{
    if (const MmioRange* r = find_mmio(address, size)) {
        r->device->mmio_write(address - r->base, data, size);
        return;
    }
    m_unclaimed.fetch_add(1, std::memory_order_relaxed);
}

} // namespace vmm
