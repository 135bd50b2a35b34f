// PCR rules (nitro-enclaves.md §5.3). Expected digests were computed independently with Python's
// hashlib: SHA384(old ‖ data).
#include "vmm/nsm/nsm_test_util.h"
#include "vmm/nsm/pcr_bank.h"

#include <doctest/doctest.h>

using namespace vmm::nsm;

namespace {

std::array<Digest, kPcrsLockedAtBoot> boot_values()
{
    std::array<Digest, kPcrsLockedAtBoot> boot {};
    for (unsigned i = 0; i < kPcrsLockedAtBoot; ++i)
        boot[i].fill(static_cast<std::uint8_t>(0xa0 + i));
    return boot;
}

const Digest kZero {};
// SHA384(48 zero bytes ‖ 01 02 03), then SHA384(that ‖ 01 02 03)
const char* const kExtendedOnce = "cb178fcd3f328244c05c6248723fd068b3a1dda878e1ab8be911098f199958add55d0c27f04826d27b44d949a650694e";
const char* const kExtendedTwice = "65ecb1f7ff7536285cb0ef60bdab531a9cdcf41a2dd1ca5e3dea6445de2c937aab5a1e474c534210583289964acbdc45";

} // namespace

TEST_CASE("pcr bank: 0..15 hold the boot values and are locked; 16..31 are zero and open")
{
    PcrBank bank(boot_values());
    std::vector<PcrState> all = bank.all();
    REQUIRE(all.size() == kPcrCount);
    for (unsigned i = 0; i < kPcrCount; ++i) {
        CAPTURE(i);
        CHECK(all[i].index == i);
        CHECK(all[i].locked == (i < 16));
        CHECK(all[i].value == (i < 16 ? boot_values()[i] : kZero));
        CHECK(bank.describe(i)->value == all[i].value);
    }
    std::vector<unsigned> expected_locked;
    for (unsigned i = 0; i < 16; ++i)
        expected_locked.push_back(i);
    CHECK(bank.locked() == expected_locked);
    CHECK_FALSE(bank.describe(32));
    CHECK_FALSE(bank.describe(65535));
}

TEST_CASE("pcr bank: extend is SHA384(old || data), data not pre-hashed")
{
    PcrBank bank(boot_values());
    Digest value {};
    REQUIRE_FALSE(bank.extend(16, "\x01\x02\x03", value));
    CHECK(value == nsm_test::digest(kExtendedOnce));
    REQUIRE_FALSE(bank.extend(16, "\x01\x02\x03", value));
    CHECK(value == nsm_test::digest(kExtendedTwice));
    CHECK(bank.describe(16)->value == nsm_test::digest(kExtendedTwice));
    CHECK(bank.describe(17)->value == kZero);
    // Empty data and 4 KiB of data are both fine.
    REQUIRE_FALSE(bank.extend(31, "", value));
    REQUIRE_FALSE(bank.extend(31, std::string(4096, 'x'), value));
}

TEST_CASE("pcr bank: extend 16, lock 16, extend again is ReadOnlyIndex and leaves the value")
{
    PcrBank bank(boot_values());
    Digest value {};
    REQUIRE_FALSE(bank.extend(16, "\x01\x02\x03", value));
    REQUIRE_FALSE(bank.lock(16));
    CHECK(bank.describe(16)->locked);
    CHECK(bank.extend(16, "\x01\x02\x03", value) == ErrorCode::ReadOnlyIndex);
    CHECK(bank.describe(16)->value == nsm_test::digest(kExtendedOnce));
    // Locking it a second time is refused too (as QEMU's NSM; 0..15 are the same case).
    CHECK(bank.lock(16) == ErrorCode::ReadOnlyIndex);
    CHECK(bank.locked_values().at(16) == nsm_test::digest(kExtendedOnce));
}

TEST_CASE("pcr bank: 0..15 cannot be extended or locked")
{
    PcrBank bank(boot_values());
    Digest value {};
    for (unsigned i = 0; i < 16; ++i) {
        CAPTURE(i);
        CHECK(bank.extend(i, "x", value) == ErrorCode::ReadOnlyIndex);
        CHECK(bank.lock(i) == ErrorCode::ReadOnlyIndex);
        CHECK(bank.describe(i)->value == boot_values()[i]);
    }
}

TEST_CASE("pcr bank: an index from 32 on is InvalidIndex")
{
    PcrBank bank(boot_values());
    Digest value {};
    for (unsigned i : { 32u, 33u, 255u, 65535u }) {
        CAPTURE(i);
        CHECK(bank.extend(i, "x", value) == ErrorCode::InvalidIndex);
        CHECK(bank.lock(i) == ErrorCode::InvalidIndex);
    }
}

TEST_CASE("pcr bank: LockPCRs(range) locks 0..range-1; more than 32 is InvalidIndex")
{
    PcrBank bank(boot_values());
    REQUIRE_FALSE(bank.lock_range(20));
    std::vector<unsigned> expected;
    for (unsigned i = 0; i < 20; ++i)
        expected.push_back(i);
    CHECK(bank.locked() == expected);
    Digest value {};
    CHECK(bank.extend(19, "x", value) == ErrorCode::ReadOnlyIndex);
    REQUIRE_FALSE(bank.extend(20, "x", value));

    CHECK(bank.lock_range(33) == ErrorCode::InvalidIndex);
    CHECK(bank.lock_range(65535) == ErrorCode::InvalidIndex);
    CHECK(bank.locked() == expected);  // a refused range locks nothing

    // Ranges over PCRs already locked are fine (nsm-check: lock 16..31 one by one, then LockPCRs(32)).
    REQUIRE_FALSE(bank.lock_range(0));
    REQUIRE_FALSE(bank.lock_range(10));
    REQUIRE_FALSE(bank.lock_range(32));
    CHECK(bank.locked().size() == 32);
    CHECK(bank.locked_values().size() == 32);
}

TEST_CASE("pcr bank: locked_values carries exactly the locked PCRs and their values")
{
    PcrBank bank(boot_values());
    Digest value {};
    REQUIRE_FALSE(bank.extend(24, "\x01\x02\x03", value));
    REQUIRE_FALSE(bank.extend(25, "\x01\x02\x03", value));
    REQUIRE_FALSE(bank.lock(24));
    std::map<unsigned, Digest> locked = bank.locked_values();
    CHECK(locked.size() == 17);
    for (unsigned i = 0; i < 16; ++i)
        CHECK(locked.at(i) == boot_values()[i]);
    CHECK(locked.at(24) == nsm_test::digest(kExtendedOnce));
    CHECK(locked.count(25) == 0);
}

TEST_CASE("pcr bank: extending a fresh PCR with the parent's id gives the real Nitro sample's PCR4")
{
    // nitro-enclaves.md §5.6: PCR4 of a real document = SHA384(48 zero bytes ‖ "i-0936512d5ae6ee91a").
    PcrBank bank(boot_values());
    Digest value {};
    REQUIRE_FALSE(bank.extend(16, "i-0936512d5ae6ee91a", value));
    CHECK(value == nsm_test::digest("5a3e54bd0a5f50b1b5ec641e063a1f1e7e5aadc139f49fd8784afca90a83767ec13dd70b3f2e3f43b8e23355baaa9053"));
}
