// vmm/virtio/guest_ram.h — how virtio code reaches guest memory: one bounds-checked translate().
//
// Virtqueues and devices never hold raw guest pointers across calls; they ask translate() for
// every range the guest names. The KVM VMM passes its GuestMemory (GuestMemoryRam below); a
// vhost-user backend or a fuzzer can supply its own map of guest-physical ranges.
//
// Usage:
//     vmm::virtio::GuestMemoryRam ram(machine.memory());
//     if (std::uint8_t* p = ram.translate(gpa, len)) { ... }   // nullptr unless all of it is RAM
#pragma once

#include "vmm/memory/guest_memory.h"

#include <cstdint>

namespace vmm::virtio {

class GuestRam {
public:
    virtual ~GuestRam() = default;
    // Host pointer for [gpa, gpa + length), or nullptr if any byte is not guest RAM (or the range
    // crosses a region boundary). Must be overflow-safe; length 0 is allowed.
    virtual std::uint8_t* translate(std::uint64_t gpa, std::uint64_t length) const = 0;
};

class GuestMemoryRam final : public GuestRam {
public:
    explicit GuestMemoryRam(const GuestMemory& memory)
        : m_memory(memory)
    {
    }
    std::uint8_t* translate(std::uint64_t gpa, std::uint64_t length) const override { return m_memory.translate(gpa, length); }

private:
    const GuestMemory& m_memory;
};

// A flat buffer at guest-physical 0 (fuzzers and small tests).
class FlatGuestRam final : public GuestRam {
public:
    FlatGuestRam(std::uint8_t* base, std::uint64_t size)
        : m_base(base)
        , m_size(size)
    {
    }
    std::uint8_t* translate(std::uint64_t gpa, std::uint64_t length) const override
    {
        if (gpa > m_size || length > m_size - gpa)
            return nullptr;
        return m_base + gpa;
    }

private:
    std::uint8_t* m_base;
    std::uint64_t m_size;
};

} // namespace vmm::virtio
