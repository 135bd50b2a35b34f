#include "vmm/enclave/console_stream.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace vmm {

bool ConsoleStream::pump(int fd)
{
    if (m_pending.empty()) {
        std::uint64_t lost = 0;
        std::string chunk;
        m_position = m_ring.read(m_position, chunk, lost);
        if (lost)
            m_pending = "\n[qt-vmm: " + std::to_string(lost) + " console bytes were overwritten before they could be shown]\n";
        m_pending += chunk;
    }
    while (!m_pending.empty()) {
        ssize_t n = ::send(fd, m_pending.data(), m_pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        m_pending.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

void ConsoleStream::flush_final(int fd)
{
    std::uint64_t lost = 0;
    std::string rest;
    m_ring.read(m_position, rest, lost);
    m_pending += rest;
    send_with_deadline(fd, m_pending);
}

void send_all_nonblocking(int fd, const std::string& data)
{
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            return;
        off += static_cast<std::size_t>(n);
    }
}

void send_with_deadline(int fd, const std::string& data)
{
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    timeval tv { 2, 0 };
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        off += static_cast<std::size_t>(n);
    }
}

} // namespace vmm
