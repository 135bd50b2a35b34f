// guest-init/status_protocol.cc — encode/decode of the 64-byte exit-status record (see the
// header for the contract). libc only.
#include "guest-init/status_protocol.h"

#include <stdio.h>
#include <string.h>

namespace guest_init {

namespace {

void put_u16(uint8_t* p, uint16_t v)
{
    p[0] = uint8_t(v);
    p[1] = uint8_t(v >> 8);
}

void put_u32(uint8_t* p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = uint8_t(v >> (8 * i));
}

uint16_t get_u16(const uint8_t* p)
{
    return uint16_t(p[0] | (p[1] << 8));
}

uint32_t get_u32(const uint8_t* p)
{
    return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

StatusRecord empty_record(StatusKind kind, int32_t value, uint32_t detail)
{
    StatusRecord r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.value = value;
    r.detail = detail;
    return r;
}

} // namespace

StatusRecord status_exited(int exit_code)
{
    return empty_record(StatusKind::Exited, exit_code, 0);
}

StatusRecord status_killed(int signal_number, bool core_dumped)
{
    return empty_record(StatusKind::KilledBySignal, signal_number, core_dumped ? 1 : 0);
}

StatusRecord status_init_error(InitError error, int errno_value, const char* reason)
{
    StatusRecord r = empty_record(StatusKind::InitError, int32_t(error), uint32_t(errno_value));
    if (reason) {
        size_t n = strnlen(reason, kStatusReasonSize - 1);
        memcpy(r.reason, reason, n);
    }
    return r;
}

void encode_status_record(const StatusRecord* record, uint8_t out[kStatusRecordSize])
{
    memset(out, 0, kStatusRecordSize);
    memcpy(out, kStatusMagic, 4);
    put_u16(out + 4, kStatusVersion);
    put_u16(out + 6, uint16_t(record->kind));
    put_u32(out + 8, uint32_t(record->value));
    put_u32(out + 12, record->detail);
    size_t n = strnlen(record->reason, kStatusReasonSize - 1);
    memcpy(out + 16, record->reason, n);
}

int decode_status_record(const uint8_t* data, size_t size, StatusRecord* record)
{
    if (size != kStatusRecordSize)
        return -1;
    if (memcmp(data, kStatusMagic, 4) != 0)
        return -2;
    if (get_u16(data + 4) != kStatusVersion)
        return -3;
    uint16_t kind = get_u16(data + 6);
    if (kind < uint16_t(StatusKind::Exited) || kind > uint16_t(StatusKind::InitError))
        return -4;
    if (memchr(data + 16, 0, kStatusReasonSize) == nullptr)
        return -5;
    StatusRecord r = empty_record(StatusKind(kind), int32_t(get_u32(data + 8)), get_u32(data + 12));
    memcpy(r.reason, data + 16, kStatusReasonSize);
    *record = r;
    return 0;
}

void describe_status_record(const StatusRecord* record, char* out, size_t out_size)
{
    if (out_size == 0)
        return;
    switch (record->kind) {
    case StatusKind::Exited:
        snprintf(out, out_size, "exited with status %d", int(record->value));
        break;
    case StatusKind::KilledBySignal:
        snprintf(out, out_size, "killed by signal %d%s", int(record->value), record->detail ? " (core dumped)" : "");
        break;
    case StatusKind::InitError:
        snprintf(out, out_size, "init error %d (errno %u): %s", int(record->value), record->detail, record->reason);
        break;
    default:
        snprintf(out, out_size, "unknown status kind %u", unsigned(record->kind));
        break;
    }
}

} // namespace guest_init
