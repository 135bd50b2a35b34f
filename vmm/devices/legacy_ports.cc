#include "vmm/devices/legacy_ports.h"

#include <cstring>
#include <ctime>

namespace vmm {

void KeyboardResetPort::port_read(std::uint16_t, std::uint8_t* data, std::size_t size)
{
    std::memset(data, 0, size); // status: output and input buffers empty
}

void KeyboardResetPort::port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size)
{
    if (offset == 4 && size >= 1 && data[0] == 0xfe && m_on_reset)
        m_on_reset();
}

namespace {

std::uint8_t bcd(int value) { return static_cast<std::uint8_t>((value / 10) << 4 | (value % 10)); }

} // namespace

std::uint8_t CmosClock::read_register(std::uint8_t index) const
{
    std::time_t now = std::time(nullptr);
    std::tm utc {};
    ::gmtime_r(&now, &utc);
    switch (index) {
    case 0x00:
        return bcd(utc.tm_sec);
    case 0x02:
        return bcd(utc.tm_min);
    case 0x04:
        return bcd(utc.tm_hour);
    case 0x06:
        return bcd(utc.tm_wday + 1);
    case 0x07:
        return bcd(utc.tm_mday);
    case 0x08:
        return bcd(utc.tm_mon + 1);
    case 0x09:
        return bcd(utc.tm_year % 100);
    case 0x32:
        return bcd(19 + utc.tm_year / 100); // century
    case 0x0a:
        return 0x26; // 32.768 kHz base, 1024 Hz rate, no update in progress
    case 0x0b:
        return 0x02; // 24-hour mode, BCD
    case 0x0c:
        return 0x00;
    case 0x0d:
        return 0x80; // valid RAM and time
    default:
        return m_nvram[index & 0x7f];
    }
}

void CmosClock::port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size)
{
    std::lock_guard guard(m_lock);
    for (std::size_t i = 0; i < size; ++i)
        data[i] = (offset + i) == 1 ? read_register(m_index) : 0xff;
}

void CmosClock::port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size)
{
    std::lock_guard guard(m_lock);
    if (size < 1)
        return;
    if (offset == 0)
        m_index = data[0] & 0x7f; // bit 7 is the NMI mask
    else if (m_index >= 0x0e)
        m_nvram[m_index] = data[0];
}

void DebugPort::port_read(std::uint16_t, std::uint8_t* data, std::size_t size) { std::memset(data, 0, size); }

void DebugPort::port_write(std::uint16_t, const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return;
    m_last_code.store(data[0]);
    std::uint64_t zero = 0;
    auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count());
    m_first_write_ns.compare_exchange_strong(zero, now);
}

} // namespace vmm
