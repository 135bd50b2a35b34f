#include "vmm/devices/console_buffer.h"

#include "base/error.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace vmm {

ConsoleBuffer::ConsoleBuffer(std::size_t capacity)
    : m_ring(capacity)
{
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        base::throw_errno("CONSOLE_EVENTFD", "cannot create", "console eventfd");
    m_event.reset(fd);
}

void ConsoleBuffer::append(const std::uint8_t* data, std::size_t size)
{
    {
        std::lock_guard guard(m_lock);
        for (std::size_t i = 0; i < size; ++i)
            m_ring[(m_end + i) % m_ring.size()] = data[i];
        m_end += size;
    }
    if (m_armed.exchange(false)) {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(m_event.get(), &one, sizeof one);
    }
}

std::uint64_t ConsoleBuffer::read(std::uint64_t position, std::string& out, std::uint64_t& lost) const
{
    std::lock_guard guard(m_lock);
    std::uint64_t oldest = m_end > m_ring.size() ? m_end - m_ring.size() : 0;
    lost = 0;
    if (position < oldest) {
        lost = oldest - position;
        position = oldest;
    }
    if (position > m_end)
        position = m_end;
    for (std::uint64_t p = position; p < m_end; ++p)
        out.push_back(static_cast<char>(m_ring[p % m_ring.size()]));
    return m_end;
}

std::uint64_t ConsoleBuffer::end_position() const
{
    std::lock_guard guard(m_lock);
    return m_end;
}

void ConsoleBuffer::arm_notify() { m_armed.store(true); }

void ConsoleBuffer::clear_notify()
{
    std::uint64_t value;
    [[maybe_unused]] ssize_t n = ::read(m_event.get(), &value, sizeof value);
}

} // namespace vmm
