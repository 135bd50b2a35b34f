#include "vmm/vsock/vsock_services.h"

#include <cstring>

namespace vmm::vsock {

namespace {

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
bool valid_utf8(const unsigned char* s, std::size_t n)
{
    for (std::size_t i = 0; i < n;) {
        unsigned char c = s[i];
        std::size_t extra = c < 0x80 ? 0 : (c >= 0xc2 && c <= 0xdf) ? 1 : (c >= 0xe0 && c <= 0xef) ? 2 : (c >= 0xf0 && c <= 0xf4) ? 3 : 4;
        if (extra == 4 || (extra && i + extra >= n))
            return false;
        unsigned char lo = 0x80, hi = 0xbf; // the second byte's range
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        else if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        for (std::size_t k = 1; k <= extra; ++k) {
            unsigned char b = s[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
                return false;
        }
        i += extra + 1;
    }
    return true;
}

class HeartbeatService final : public LocalService {
public:
    explicit HeartbeatService(std::function<void()> callback)
        : m_callback(std::move(callback))
    {
    }
    bool receive(const std::uint8_t* data, std::size_t size) override
    {
        for (std::size_t i = 0; i < size; ++i) {
            if (m_done || data[i] != guest_init::kHeartbeatByte)
                return false;
            m_done = true;
            m_output.push_back(static_cast<char>(guest_init::kHeartbeatByte));
            if (m_callback)
                m_callback();
        }
        return true;
    }

private:
    std::function<void()> m_callback;
    bool m_done { false };
};

class StatusService final : public LocalService {
public:
    explicit StatusService(std::function<void(const guest_init::StatusRecord&)> callback)
        : m_callback(std::move(callback))
    {
    }
    bool receive(const std::uint8_t* data, std::size_t size) override
    {
        if (size > guest_init::kStatusRecordSize - m_size)
            return false; // more than one record
        if (size)
            std::memcpy(m_record + m_size, data, size);
        m_size += size;
        if (m_size < guest_init::kStatusRecordSize || m_done)
            return true;
        guest_init::StatusRecord record;
        if (guest_init::decode_status_record(m_record, m_size, &record) != 0)
            return false;
        // The reason ends up in query's JSON: text that is not UTF-8 is refused here, as an
        // undecodable record is (the connection is reset, nothing is recorded).
        if (!valid_utf8(reinterpret_cast<const unsigned char*>(record.reason), std::strlen(record.reason)))
            return false;
        m_done = true;
        if (m_callback)
            m_callback(record);
        m_output.push_back(static_cast<char>(guest_init::kStatusAck));
        return true;
    }

private:
    std::function<void(const guest_init::StatusRecord&)> m_callback;
    std::uint8_t m_record[guest_init::kStatusRecordSize] {};
    std::size_t m_size { 0 };
    bool m_done { false };
};

} // namespace

std::unique_ptr<LocalService> make_local_service(std::uint32_t port, const ServiceCallbacks& callbacks)
{
    if (port == kHeartbeatPort)
        return std::make_unique<HeartbeatService>(callbacks.on_heartbeat);
    if (port == kStatusPort)
        return std::make_unique<StatusService>(callbacks.on_app_status);
    return nullptr;
}

} // namespace vmm::vsock
