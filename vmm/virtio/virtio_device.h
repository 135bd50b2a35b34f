// vmm/virtio/virtio_device.h — what a device model (vsock, ...) provides to a virtio transport.
//
// The transport (MmioTransport) owns the registers, the feature negotiation and the queues; the
// device says who it is, what it offers, what its config space holds, and is told when the
// driver is ready (activate) or resets it. Both calls come with the transport's lock held, the
// same lock the device's worker holds while it touches the queues, so they never race.
//
// Usage:
//     class MyDevice : public vmm::virtio::VirtioDevice { ... };
//     vmm::virtio::MmioTransport transport(ram, my_device, notify, interrupt);
#pragma once

#include "vmm/virtio/virtqueue.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmm::virtio {

inline constexpr std::uint64_t kFeatureEventIdx = 1ull << 29;
inline constexpr std::uint64_t kFeatureVersion1 = 1ull << 32;

class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;
    virtual std::uint32_t device_id() const = 0;
    // Device-specific feature bits; the transport adds VERSION_1 and EVENT_IDX.
    virtual std::uint64_t device_features() const = 0;
    virtual std::uint16_t queue_count() const = 0;
    virtual std::uint16_t queue_max_size() const = 0;
    // Reads `size` bytes at `offset` of the device config space (zeroes past its end).
    virtual void read_config(std::uint64_t offset, std::uint8_t* data, std::size_t size) const = 0;
    // DRIVER_OK was set: `queues` (only the ready ones may be used) stay valid until reset().
    virtual void activate(std::vector<Virtqueue>& queues, std::uint64_t features) = 0;
    // The driver wrote 0 to Status: drop every queue reference and all device state.
    virtual void reset() = 0;
};

} // namespace vmm::virtio
