// vmm/testing/mmio_registers.h — test-only: 32-bit register accesses to a virtio-mmio transport,
// as a guest driver makes them (the synthetic vsock and NSM drivers share these).
//
// Usage:
//     std::uint32_t id = vmm::testing::read32(device.transport(), vmm::virtio::mmio::kDeviceId);
//     vmm::testing::write32(device.transport(), vmm::virtio::mmio::kStatus, 0);
#pragma once

#include "vmm/virtio/mmio_transport.h"

#include <cstdint>
#include <cstring>

namespace vmm::testing {

inline std::uint32_t read32(virtio::MmioTransport& transport, std::uint64_t offset)
{
    std::uint8_t b[4];
    transport.mmio_read(offset, b, 4);
    std::uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
}

inline void write32(virtio::MmioTransport& transport, std::uint64_t offset, std::uint32_t value)
{
    std::uint8_t b[4];
    std::memcpy(b, &value, 4);
    transport.mmio_write(offset, b, 4);
}

} // namespace vmm::testing
