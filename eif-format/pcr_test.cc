#include "base/hex.h"
#include "eif-format/pcr.h"
#include "eif-format/testdata/eif_test_util.h"

#include <doctest/doctest.h>

using eif_test::pcr_of;

namespace {

eif::Digest digest_from_hex(const std::string& text)
{
    auto raw = base::from_hex(text);
    REQUIRE(raw);
    REQUIRE(raw->size() == 48);
    eif::Digest d {};
    std::copy(raw->begin(), raw->end(), d.begin());
    return d;
}

std::string pattern(std::size_t size, unsigned seed)
{
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
    return s;
}

} // namespace

TEST_CASE("QingTian extend vectors (index 0 and 8)")
{
    auto d0 = digest_from_hex("0d1ae7330f437ee563178df30a7c7b7634125d31cac14f6784933db5e90080008438b38fdbb39c886ffe0586ab099b56");
    CHECK(eif::to_hex(eif::extend_zero(d0)) == "b8c59692da8a5bcb739a83d15a0ceca670bd78da06cb2250ec70548f72254e674419e9888db9c0364a9b88dd58017a62");
    auto d8 = digest_from_hex("c5b3e075e00c261e7fc364f1541067b2a42d4b793225ab10e5cfb8eaca31b3d598af9dd2e491828c2569a9953401abcb");
    CHECK(eif::to_hex(eif::extend(eif::Digest {}, d8)) == "4f8b066ce5ac24150612ba9a55bbb9211f626152ada40ede160f4d7ecbfa214c2a549181f6611a3d16a12ec88a577a01");
}

TEST_CASE("PCR of nothing and SHA-384 known answer")
{
    CHECK(eif::to_hex(eif::extend_zero(eif::sha384("", 0))) == "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a");
    CHECK(eif::to_hex(eif::sha384("abc", 3)) == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
}

TEST_CASE("Sha384 fork continues independently")
{
    eif::Sha384 h;
    h.update("hello ", 6);
    eif::Sha384 copy = h.fork();
    h.update("world", 5);
    CHECK(eif::to_hex(h.finish()) == eif_test::hex(eif_test::sha384_raw("hello world")));
    CHECK(eif::to_hex(copy.finish()) == eif_test::hex(eif_test::sha384_raw("hello ")));
}

TEST_CASE("pcr_of_file streams a file larger than one chunk")
{
    eif_test::TempDir dir;
    std::string data = pattern(3 * (1 << 20) + 17, 1);
    eif_test::write_file(dir.file("blob"), data);
    CHECK(eif::to_hex(eif::pcr_of_file(dir.file("blob"))) == pcr_of(data));
}

TEST_CASE("ImageMeasurer: PCR0/1/2 in AWS order, small and large (threaded) chunks")
{
    std::string kernel = pattern(300000, 2), cmdline = "console=ttyS0", rd0 = pattern(700000, 3), rd1 = pattern(900000, 4), rd2 = "tail";
    for (std::size_t chunk : { std::size_t(7), std::size_t(1 << 20) }) {
        eif::ImageMeasurer m;
        auto feed = [&](eif::SectionType t, const std::string& data) {
            m.begin_section(t);
            for (std::size_t at = 0; at < data.size(); at += chunk)
                m.update(data.data() + at, std::min(chunk, data.size() - at));
        };
        feed(eif::SectionType::Kernel, kernel);
        feed(eif::SectionType::Cmdline, cmdline);
        feed(eif::SectionType::Metadata, "{\"ignored\":true}");
        feed(eif::SectionType::Ramdisk, rd0);
        feed(eif::SectionType::Ramdisk, rd1);
        feed(eif::SectionType::Ramdisk, rd2);
        feed(eif::SectionType::Signature, "ignored too");
        eif::Measurements pcrs = m.finish();
        CHECK(pcrs.pcr0 == pcr_of(kernel + cmdline + rd0 + rd1 + rd2));
        CHECK(pcrs.pcr1 == pcr_of(kernel + cmdline + rd0));
        CHECK(pcrs.pcr2 == pcr_of(rd1 + rd2));
        CHECK(eif::to_hex(m.pcr0()) == pcrs.pcr0);
        CHECK_FALSE(pcrs.pcr8);
    }
}

TEST_CASE("ImageMeasurer: boot sections after an application ramdisk still count for PCR1")
{
    eif::ImageMeasurer m;
    m.begin_section(eif::SectionType::Kernel);
    m.update("K", 1);
    m.begin_section(eif::SectionType::Ramdisk);
    m.update("R0", 2);
    m.begin_section(eif::SectionType::Ramdisk);
    m.update("R1", 2);
    m.begin_section(eif::SectionType::Cmdline);
    m.update("C", 1);
    eif::Measurements pcrs = m.finish();
    CHECK(pcrs.pcr0 == pcr_of("KR0R1C"));
    CHECK(pcrs.pcr1 == pcr_of("KR0C"));
    CHECK(pcrs.pcr2 == pcr_of("R1"));
}

TEST_CASE("single ramdisk: PCR2 is the PCR of nothing")
{
    eif::ImageMeasurer m;
    m.begin_section(eif::SectionType::Kernel);
    m.update("k", 1);
    m.begin_section(eif::SectionType::Ramdisk);
    m.update("r", 1);
    CHECK(m.finish().pcr2 == "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a");
}
