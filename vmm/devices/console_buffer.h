// vmm/devices/console_buffer.h — the read-only console of a debug-mode enclave: a bounded ring of
// the guest's serial output that a viewer can replay and then follow.
//
// The guest side (append) never blocks and never allocates after construction: when the ring is
// full the oldest bytes are overwritten. A viewer reads by absolute position; if it fell more
// than the capacity behind, read() tells it how many bytes it lost. A viewer waiting for more
// sleeps on notify_fd() (an eventfd signalled at most once per wake-up, so a chatty guest costs
// one syscall per viewer wake-up, not per byte).
//
// Usage:
//     vmm::ConsoleBuffer console(256 * 1024);
//     console.append(byte);                              // vCPU thread (UART)
//     std::uint64_t pos = 0; std::string out; std::uint64_t lost;
//     pos = console.read(pos, out, lost);                 // viewer: everything since pos
//     console.arm_notify(); poll(console.notify_fd())     // then sleep until new output
#pragma once

#include "base/file.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace vmm {

class ConsoleBuffer {
public:
    explicit ConsoleBuffer(std::size_t capacity);

    void append(const std::uint8_t* data, std::size_t size);
    void append(std::uint8_t byte) { append(&byte, 1); }

    // Appends the bytes in [position, end) that are still held to `out` and returns the new end.
    // `lost` gets how many bytes after `position` were already overwritten.
    std::uint64_t read(std::uint64_t position, std::string& out, std::uint64_t& lost) const;
    std::uint64_t end_position() const;
    std::size_t capacity() const { return m_ring.size(); }

    // Asks for one signal on notify_fd() at the next append; call before polling.
    void arm_notify();
    int notify_fd() const { return m_event.get(); }
    void clear_notify();

private:
    mutable std::mutex m_lock;
    std::vector<std::uint8_t> m_ring;
    std::uint64_t m_end { 0 }; // total bytes ever appended
    base::UniqueFd m_event;
    std::atomic<bool> m_armed { false };
};

} // namespace vmm
