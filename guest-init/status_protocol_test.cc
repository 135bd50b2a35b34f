// Unit tests for guest-init/status_protocol.h: the exact bytes, round trips, rejection.
#include <doctest/doctest.h>

#include <string.h>
#include <string>

#include "guest-init/status_protocol.h"

using namespace guest_init;

TEST_CASE("encode: exited record has the documented bytes")
{
    uint8_t buf[kStatusRecordSize];
    StatusRecord r = status_exited(0x1234);
    encode_status_record(&r, buf);
    const uint8_t head[16] = { 'Q', 'T', 'E', 'X', 1, 0, 1, 0, 0x34, 0x12, 0, 0, 0, 0, 0, 0 };
    CHECK(memcmp(buf, head, 16) == 0);
    for (size_t i = 16; i < kStatusRecordSize; i++)
        CHECK(buf[i] == 0);
}

TEST_CASE("encode: init error carries code, errno and reason")
{
    uint8_t buf[kStatusRecordSize];
    StatusRecord r = status_init_error(InitError::AppNotFound, 2, "app 'x' not found");
    encode_status_record(&r, buf);
    CHECK(buf[6] == 3);
    CHECK(buf[8] == 7);
    CHECK(buf[12] == 2);
    CHECK(std::string(reinterpret_cast<char*>(buf + 16)) == "app 'x' not found");
}

TEST_CASE("round trip of every kind, negative values and a long reason")
{
    std::string long_reason(200, 'r');
    for (StatusRecord r : { status_exited(0), status_exited(255), status_killed(9, false), status_killed(11, true),
             status_init_error(InitError::BadUser, 0, long_reason.c_str()), status_init_error(InitError::Internal, 5, nullptr) }) {
        uint8_t buf[kStatusRecordSize];
        encode_status_record(&r, buf);
        StatusRecord back;
        REQUIRE(decode_status_record(buf, sizeof buf, &back) == 0);
        CHECK(back.kind == r.kind);
        CHECK(back.value == r.value);
        CHECK(back.detail == r.detail);
        CHECK(strcmp(back.reason, r.reason) == 0);
    }
    StatusRecord r = status_init_error(InitError::BadUser, 0, long_reason.c_str());
    CHECK(strlen(r.reason) == kStatusReasonSize - 1);
    StatusRecord neg = status_exited(-1);
    uint8_t buf[kStatusRecordSize];
    encode_status_record(&neg, buf);
    StatusRecord back;
    REQUIRE(decode_status_record(buf, sizeof buf, &back) == 0);
    CHECK(back.value == -1);
}

TEST_CASE("decode rejects wrong size, magic, version, kind and unterminated reason")
{
    uint8_t good[kStatusRecordSize];
    StatusRecord r = status_killed(15, false);
    encode_status_record(&r, good);
    StatusRecord out;
    CHECK(decode_status_record(good, kStatusRecordSize - 1, &out) == -1);
    uint8_t bad[kStatusRecordSize];
    memcpy(bad, good, sizeof bad);
    bad[0] = 'X';
    CHECK(decode_status_record(bad, sizeof bad, &out) == -2);
    memcpy(bad, good, sizeof bad);
    bad[4] = 2;
    CHECK(decode_status_record(bad, sizeof bad, &out) == -3);
    memcpy(bad, good, sizeof bad);
    bad[6] = 0;
    CHECK(decode_status_record(bad, sizeof bad, &out) == -4);
    bad[6] = 4;
    CHECK(decode_status_record(bad, sizeof bad, &out) == -4);
    memcpy(bad, good, sizeof bad);
    memset(bad + 16, 'a', kStatusReasonSize);
    CHECK(decode_status_record(bad, sizeof bad, &out) == -5);
}

TEST_CASE("describe_status_record")
{
    char text[128];
    StatusRecord r = status_exited(3);
    describe_status_record(&r, text, sizeof text);
    CHECK(std::string(text) == "exited with status 3");
    r = status_killed(9, true);
    describe_status_record(&r, text, sizeof text);
    CHECK(std::string(text) == "killed by signal 9 (core dumped)");
    r = status_init_error(InitError::CmdEmpty, 0, "/cmd is empty");
    describe_status_record(&r, text, sizeof text);
    CHECK(std::string(text) == "init error 3 (errno 0): /cmd is empty");
    describe_status_record(&r, text, 8);
    CHECK(std::string(text) == "init er");
}

TEST_CASE("protocol constants")
{
    CHECK(kParentCid == 3);
    CHECK(kHeartbeatPort == 9000);
    CHECK(kHeartbeatByte == 0xB7);
    CHECK(kStatusPort == 9001);
    CHECK(kStatusRecordSize == 16 + kStatusReasonSize);
}
