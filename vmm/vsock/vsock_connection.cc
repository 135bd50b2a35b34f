#include "vmm/vsock/vsock_connection.h"

#include <cstring>

namespace vmm::vsock {

void ByteQueue::append(const std::uint8_t* bytes, std::size_t n)
{
    if (m_head > 0 && m_head == m_data.size()) {
        m_data.clear();
        m_head = 0;
    } else if (m_head >= 16 * 1024 && m_head * 2 >= m_data.size()) {
        m_data.erase(m_data.begin(), m_data.begin() + static_cast<std::ptrdiff_t>(m_head));
        m_head = 0;
    }
    m_data.insert(m_data.end(), bytes, bytes + n);
}

void ByteQueue::consume(std::size_t n)
{
    m_head += std::min(n, size());
    if (m_head == m_data.size()) {
        m_data.clear();
        m_head = 0;
        if (m_data.capacity() > 2 * kConnectionBuffer)
            m_data.shrink_to_fit();
    }
}

void ByteQueue::clear()
{
    m_data.clear();
    m_data.shrink_to_fit();
    m_head = 0;
}

std::uint32_t Connection::peer_credit() const
{
    std::uint32_t in_flight = tx_cnt - peer_fwd_cnt;
    if (in_flight > peer_buf_alloc)
        return 0; // the guest's numbers do not add up: send nothing until they do
    return peer_buf_alloc - in_flight;
}

bool Connection::has_host_data() const
{
    if (service)
        return !service->output().empty();
    return host_readable && !local_eof;
}

} // namespace vmm::vsock
