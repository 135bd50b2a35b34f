#include "base/error.h"
#include "eif-format/eif_reader.h"
#include "eif-format/testdata/eif_test_util.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using eif_test::RawSection;

namespace {

const std::string kMetadata = "{\"ImageName\":\"t\"}";

std::vector<RawSection> good_sections()
{
    return { { 1, "KERNEL-BYTES" }, { 2, "console=ttyS0" }, { 5, kMetadata }, { 3, "ramdisk-zero" }, { 3, "ramdisk-one" } };
}

struct Opened {
    eif_test::TempDir dir;
    std::string path;
};

eif::EifReader open_bytes(const eif_test::TempDir& dir, const std::string& bytes, eif::ReadOptions options = {})
{
    std::string path = dir.file("image.eif");
    eif_test::write_file(path, bytes);
    return eif::EifReader::open(path, options);
}

void expect_error(const std::string& bytes, const std::string& code, const std::string& needle, eif::ReadOptions options = {})
{
    eif_test::TempDir dir;
    try {
        open_bytes(dir, bytes, options);
        FAIL("no error; expected " << code);
    } catch (const base::Error& e) {
        CHECK(e.code() == code);
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, std::string(e.what()));
    }
}

} // namespace

TEST_CASE("reader: a hand-built EIF opens; sections, offsets, PCRs derived independently")
{
    eif_test::TempDir dir;
    auto sections = good_sections();
    std::string bytes = eif_test::hand_built_eif(sections);
    auto reader = open_bytes(dir, bytes);
    CHECK(reader.header().version == 4);
    CHECK(reader.header().num_sections == 5);
    REQUIRE(reader.sections().size() == 5);
    CHECK(reader.section(0).header_offset == 0x224);
    CHECK(reader.section(0).data_offset == 0x224 + 12);
    CHECK(reader.section(1).header_offset == 0x224 + 12 + 12);
    CHECK(reader.kernel_index() == 0);
    CHECK(reader.cmdline_index() == 1);
    CHECK(reader.metadata_index() == 2u);
    CHECK_FALSE(reader.signature_index());
    CHECK(reader.ramdisk_indices() == std::vector<std::size_t> { 3, 4 });
    CHECK(reader.ramdisks_size() == sections[3].data.size() + sections[4].data.size());

    std::string kernel(reader.section(0).size, '\0');
    reader.read_section(0, kernel.data(), kernel.size());
    CHECK(kernel == "KERNEL-BYTES");
    std::string initrd(reader.ramdisks_size(), '\0');
    reader.read_ramdisks(initrd.data(), initrd.size());
    CHECK(initrd == "ramdisk-zeroramdisk-one");
    std::string chunks;
    int calls = 0;
    reader.for_each_chunk(4, [&](const std::uint8_t* p, std::size_t n) { chunks.append(reinterpret_cast<const char*>(p), n); ++calls; }, 4);
    CHECK(chunks == "ramdisk-one");
    CHECK(calls == 3);
    CHECK(reader.read_small_section(2, 100) == kMetadata);
    CHECK_THROWS_AS(reader.read_small_section(2, 3), base::Error);
    CHECK_THROWS_AS(reader.read_section(0, kernel.data(), 3), base::Error);

    eif::ScanResult scan = reader.scan();
    CHECK(scan.crc_ok);
    CHECK(scan.measurements.pcr0 == eif_test::pcr_of("KERNEL-BYTESconsole=ttyS0ramdisk-zeroramdisk-one"));
    CHECK(scan.measurements.pcr1 == eif_test::pcr_of("KERNEL-BYTESconsole=ttyS0ramdisk-zero"));
    CHECK(scan.measurements.pcr2 == eif_test::pcr_of("ramdisk-one"));
}

TEST_CASE("reader: CRC mismatch is an error when verifying, reported by scan otherwise")
{
    std::string bytes = eif_test::hand_built_eif(good_sections());
    bytes[bytes.size() - 1] ^= 1;
    expect_error(bytes, "EIF_BAD_CRC", "offset 0x220");
    eif_test::TempDir dir;
    eif::ReadOptions lax;
    lax.verify_crc = false;
    auto reader = open_bytes(dir, bytes, lax);
    eif::ScanResult scan = reader.scan();
    CHECK_FALSE(scan.crc_ok);
    CHECK(scan.stored_crc != scan.computed_crc);
}

TEST_CASE("reader: every structural violation names the field and offset")
{
    const std::string good = eif_test::hand_built_eif(good_sections());

    SUBCASE("short file") { expect_error(good.substr(0, 100), "EIF_TRUNCATED", "shorter than the 548-byte"); }
    SUBCASE("magic")
    {
        std::string b = good;
        b[0] = 'X';
        expect_error(b, "EIF_BAD_MAGIC", "offset 0x0");
    }
    SUBCASE("version")
    {
        std::string b = good;
        eif_test::put_be16_at(b, 4, 5);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_VERSION", "unsupported version 5 at offset 0x4");
        eif_test::put_be16_at(b, 4, 3);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_VERSION", "version 3");
        eif::ReadOptions old;
        old.allow_old_versions = true;
        eif_test::TempDir dir;
        CHECK(open_bytes(dir, b, old).header().version == 3);
    }
    SUBCASE("header flags")
    {
        std::string b = good;
        eif_test::put_be16_at(b, 6, 0x8000);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_HEADER", "header flags at offset 0x6");
    }
    SUBCASE("num_sections")
    {
        std::string b = good;
        eif_test::put_be16_at(b, 0x1a, 33);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_HEADER", "num_sections at offset 0x1a is 33");
        eif_test::put_be16_at(b, 0x1a, 0);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_HEADER", "num_sections at offset 0x1a is 0");
    }
    SUBCASE("unused slot not zero")
    {
        std::string b = good;
        eif_test::put_be64_at(b, 0x11c + 8 * 7, 1);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_HEADER", "unused section_sizes[7] at offset 0x154");
    }
    SUBCASE("section header size differs from the table")
    {
        std::string b = good;
        std::size_t hdr = 0x224 + 12 + 12; // cmdline section header
        eif_test::put_be64_at(b, hdr + 4, 99);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_SECTION", "section 1 header at offset 0x23c: size 99 does not match header table size 13");
    }
    SUBCASE("section flags")
    {
        std::string b = good;
        eif_test::put_be16_at(b, 0x224 + 2, 1);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_SECTION", "section 0 header at offset 0x224: flags 0x1 must be 0");
    }
    SUBCASE("unknown and invalid section types")
    {
        std::string b = good;
        eif_test::put_be16_at(b, 0x224, 9);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_SECTION", "unknown section type 9");
        eif_test::put_be16_at(b, 0x224, 0);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_SECTION", "invalid section type 0");
    }
    SUBCASE("gap and overlap")
    {
        std::string b = good;
        eif_test::put_be64_at(b, 0x1c + 8, 0x224 + 12 + 12 + 4);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_LAYOUT", "(gap)");
        eif_test::put_be64_at(b, 0x1c + 8, 0x224 + 12 + 12 - 4);
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_LAYOUT", "(overlap)");
    }
    SUBCASE("trailing bytes")
    {
        std::string b = good + "xx";
        eif_test::fix_crc(b);
        expect_error(b, "EIF_BAD_LAYOUT", "2 unexpected bytes after the last section");
    }
    SUBCASE("truncated data")
    {
        expect_error(good.substr(0, good.size() - 3), "EIF_TRUNCATED", "runs past the end of the file");
    }
    SUBCASE("huge size does not allocate or overflow")
    {
        std::string b = good;
        eif_test::put_be64_at(b, 0x11c, ~0ull);
        expect_error(b, "EIF_TRUNCATED", "runs past the end");
        eif_test::put_be64_at(b, 0x1c, ~0ull - 3);
        expect_error(b, "EIF_BAD_LAYOUT", "section_offsets[0]");
    }
    SUBCASE("missing and duplicate sections")
    {
        expect_error(eif_test::hand_built_eif({ { 2, "c" }, { 5, "{}" }, { 1, "k" } }), "EIF_MISSING_SECTION", "no ramdisk");
        expect_error(eif_test::hand_built_eif({ { 1, "k" }, { 5, "{}" }, { 3, "r" } }), "EIF_MISSING_SECTION", "no cmdline");
        expect_error(eif_test::hand_built_eif({ { 1, "k" }, { 2, "c" }, { 3, "r" } }), "EIF_MISSING_SECTION", "no metadata");
        expect_error(eif_test::hand_built_eif({ { 1, "k" }, { 2, "c" }, { 5, "{}" }, { 1, "k2" }, { 3, "r" } }), "EIF_DUPLICATE_SECTION",
            "section 3 header at offset 0x24c: second kernel section (the first is section 0)");
        expect_error(eif_test::hand_built_eif({ { 3, "r" }, { 1, "k" }, { 2, "c" }, { 5, "{}" } }), "EIF_BAD_LAYOUT", "ramdisk before the kernel");
        expect_error(eif_test::hand_built_eif({ { 2, "c" }, { 5, "{}" }, { 3, "r" } }), "EIF_BAD_LAYOUT", "ramdisk before the kernel");
    }
    SUBCASE("signature too large")
    {
        auto s = good_sections();
        s.push_back({ 4, std::string(32769, 'x') });
        expect_error(eif_test::hand_built_eif(s), "EIF_BAD_SECTION", "more than the 32768 allowed");
    }
    SUBCASE("not a regular file")
    {
        CHECK_THROWS_AS(eif::EifReader::open("/dev/null"), base::Error);
        CHECK_THROWS_AS(eif::EifReader::open("/nonexistent/x.eif"), base::Error);
        eif_test::TempDir dir;
        REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
        CHECK_THROWS_AS(eif::EifReader::open(dir.file("fifo")), base::Error); // must not block
    }
}

TEST_CASE("reader: version 2 without metadata is accepted only in lenient mode")
{
    std::string b = eif_test::hand_built_eif({ { 1, "k" }, { 2, "c" }, { 3, "r" } }, 2);
    expect_error(b, "EIF_BAD_VERSION", "version 2");
    eif::ReadOptions old;
    old.allow_old_versions = true;
    eif_test::TempDir dir;
    auto reader = open_bytes(dir, b, old);
    CHECK_FALSE(reader.metadata_index());
    CHECK(reader.scan().measurements.pcr1 == eif_test::pcr_of("kcr"));
}

TEST_CASE("reader: open_sealed checks and serves one sealed copy; rewriting the file changes nothing it reads")
{
    eif_test::TempDir dir;
    std::string path = dir.file("image.eif");
    std::string bytes = eif_test::hand_built_eif(good_sections());
    eif_test::write_file(path, bytes);
    eif::EifReader reader = eif::EifReader::open_sealed(path);
    const eif::ScanResult before = reader.scan();
    REQUIRE(before.crc_ok);

    // Someone who can write the file rewrites it in place (same inode) and then replaces it.
    std::string evil = bytes;
    std::size_t at = evil.find("ramdisk-zero");
    REQUIRE(at != std::string::npos);
    evil.replace(at, 12, "RAMDISK-EVIL");
    {
        base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
        REQUIRE(fd.valid());
        REQUIRE(::pwrite(fd.get(), evil.data(), evil.size(), 0) == static_cast<ssize_t>(evil.size()));
        REQUIRE(::ftruncate(fd.get(), 10) == 0);
    }

    // Everything the reader hands out is still what was checked.
    const eif::ScanResult after = reader.scan();
    CHECK(after.crc_ok);
    CHECK(after.measurements.pcr0 == before.measurements.pcr0);
    CHECK(after.measurements.pcr2 == before.measurements.pcr2);
    std::string ramdisks(static_cast<std::size_t>(reader.ramdisks_size()), '\0');
    reader.read_ramdisks(ramdisks.data(), ramdisks.size());
    CHECK(ramdisks == "ramdisk-zeroramdisk-one");

    // The copy cannot be changed through its own descriptor either.
    int seals = ::fcntl(reader.fd(), F_GET_SEALS);
    CHECK(seals == (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    base::UniqueFd writable(::open(("/proc/self/fd/" + std::to_string(reader.fd())).c_str(), O_RDWR | O_CLOEXEC));
    if (writable.valid()) {
        CHECK(::pwrite(writable.get(), "X", 1, 0) < 0);
        CHECK(::ftruncate(writable.get(), 0) != 0);
    }
}

TEST_CASE("reader: open_sealed refuses what open refuses, with the same codes")
{
    eif_test::TempDir dir;
    CHECK_THROWS_WITH_AS(eif::EifReader::open_sealed(dir.file("missing.eif")), doctest::Contains("cannot open"), base::Error);
    std::string path = dir.file("short.eif");
    eif_test::write_file(path, "EIF");
    try {
        eif::EifReader::open_sealed(path);
        FAIL("a 3-byte file was accepted");
    } catch (const base::Error& e) {
        CHECK(e.code() == "EIF_TRUNCATED");
    }
}
