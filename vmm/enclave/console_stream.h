// vmm/enclave/console_stream.h — one viewer of a debug-mode enclave's console: follows the
// console ring from its start and moves what it has not seen yet to the viewer's socket without
// ever blocking the daemon (a slow viewer loses old bytes, told how many, and never stalls the
// guest, which writes the ring without waiting for anyone). Also the daemon's two ways of
// sending to a control client: now without blocking, or with a short deadline at the end.
//
// Usage (the daemon, for a client that asked for `console`):
//     vmm::ConsoleStream stream(console_ring);
//     if (!stream.pump(fd)) drop(fd);                 // on EPOLLOUT and on console output
//     want EPOLLOUT while stream.pending(); pump again if stream.behind() after arming
//     stream.flush_final(fd);                          // the enclave ended: the last bytes
#pragma once

#include "vmm/devices/console_buffer.h"

#include <cstdint>
#include <string>

namespace vmm {

class ConsoleStream {
public:
    explicit ConsoleStream(ConsoleBuffer& ring)
        : m_ring(ring)
    {
    }

    // Sends what the ring holds beyond this viewer's position until the socket is full; false
    // when the socket is broken.
    bool pump(int fd);
    // Bytes read from the ring that the socket has not taken yet.
    bool pending() const { return !m_pending.empty(); }
    // The ring has output this viewer has not read yet.
    bool behind() const { return m_ring.end_position() != m_position; }
    // The enclave ended: everything left, blocking up to 2 s.
    void flush_final(int fd);

private:
    ConsoleBuffer& m_ring;
    std::uint64_t m_position { 0 };
    std::string m_pending; // console bytes not yet written
};

// Sends as much of `data` as the socket takes now.
void send_all_nonblocking(int fd, const std::string& data);
// Blocking send with a 2 s limit, for the last bytes a client gets before it is dropped.
void send_with_deadline(int fd, const std::string& data);

} // namespace vmm
