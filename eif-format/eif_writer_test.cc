#include "base/error.h"
#include "eif-format/eif_reader.h"
#include "eif-format/eif_writer.h"
#include "eif-format/testdata/eif_test_util.h"

#include <doctest/doctest.h>

namespace {

std::string pattern(std::size_t size, unsigned seed)
{
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>((i * 31 + seed * 11 + (i >> 11)) & 0xff);
    return s;
}

eif::BuildRequest request_for(const eif_test::TempDir& dir, const std::string& kernel, const std::vector<std::string>& ramdisks)
{
    eif_test::write_file(dir.file("bzImage"), kernel);
    eif::BuildRequest req;
    req.kernel_path = dir.file("bzImage");
    req.cmdline = "console=ttyS0 reboot=k";
    eif::MetadataInput md;
    md.image_name = "test";
    md.image_version = "1.0";
    md.build_time = 1700000000;
    req.metadata = eif::build_metadata(md);
    for (std::size_t i = 0; i < ramdisks.size(); ++i) {
        std::string path = dir.file("rd" + std::to_string(i));
        eif_test::write_file(path, ramdisks[i]);
        req.ramdisks.push_back(eif::SectionSource::file(path));
    }
    return req;
}

} // namespace

TEST_CASE("writer: output is byte-identical to a hand-built EIF; reads back with the same PCRs")
{
    eif_test::TempDir dir;
    std::string kernel = pattern(2'500'000, 1), rd0 = pattern(400'000, 2), rd1 = pattern(3'000'000, 3);
    auto req = request_for(dir, kernel, { rd0, rd1 });
    eif::Measurements m = eif::write_eif(req, dir.file("out.eif"));

    std::string expected = eif_test::hand_built_eif({ { 1, kernel }, { 2, req.cmdline }, { 5, eif::serialize_metadata(req.metadata) }, { 3, rd0 }, { 3, rd1 } });
    CHECK(eif_test::read_file(dir.file("out.eif")) == expected);
    CHECK(m.pcr0 == eif_test::pcr_of(kernel + req.cmdline + rd0 + rd1));
    CHECK(m.pcr1 == eif_test::pcr_of(kernel + req.cmdline + rd0));
    CHECK(m.pcr2 == eif_test::pcr_of(rd1));
    CHECK_FALSE(m.pcr8);

    auto reader = eif::EifReader::open(dir.file("out.eif"));
    eif::ScanResult scan = reader.scan();
    CHECK(scan.crc_ok);
    CHECK(scan.measurements.pcr0 == m.pcr0);
    CHECK(scan.measurements.pcr1 == m.pcr1);
    CHECK(scan.measurements.pcr2 == m.pcr2);
    std::string back(reader.section(4).size, '\0');
    reader.read_section(4, back.data(), back.size());
    CHECK(back == rd1);
    // Nothing but the output in the directory (the temp file was renamed).
    CHECK(eif_test::list_dir(dir.path()).size() == 4); // bzImage, rd0, rd1, out.eif
}

TEST_CASE("writer: memory and producer sources, aarch64 flag, many ramdisks")
{
    eif_test::TempDir dir;
    auto req = request_for(dir, "kernel", {});
    req.arch_flags = eif::kFlagArchArm64;
    req.ramdisks.push_back(eif::SectionSource::bytes("init"));
    req.ramdisks.push_back(eif::SectionSource::producer([](const eif::ChunkSink& sink) {
        sink("app-", 4);
        sink("", 0);
        sink("bytes", 5);
    }));
    req.ramdisks.push_back(eif::SectionSource::bytes(""));
    eif::Measurements m = eif::write_eif(req, dir.file("out.eif"));
    auto reader = eif::EifReader::open(dir.file("out.eif"));
    CHECK(reader.header().flags == eif::kFlagArchArm64);
    CHECK(reader.ramdisk_indices().size() == 3);
    CHECK(reader.section(4).size == 9);
    CHECK(reader.section(5).size == 0);
    CHECK(m.pcr2 == eif_test::pcr_of("app-bytes"));
    CHECK(reader.scan().measurements.pcr0 == m.pcr0);
}

TEST_CASE("writer: errors leave nothing behind")
{
    eif_test::TempDir dir;
    auto req = request_for(dir, "kernel", { "rd" });
    auto only_inputs = eif_test::list_dir(dir.path()).size();

    SUBCASE("producer throws midway")
    {
        req.ramdisks.push_back(eif::SectionSource::producer([](const eif::ChunkSink& sink) {
            sink("partial", 7);
            throw base::Error(base::ErrorKind::InvalidInput, "TEST", "boom");
        }));
        CHECK_THROWS_WITH(eif::write_eif(req, dir.file("out.eif")), "boom");
    }
    SUBCASE("missing ramdisk file")
    {
        req.ramdisks.push_back(eif::SectionSource::file(dir.file("missing")));
        CHECK_THROWS_AS(eif::write_eif(req, dir.file("out.eif")), base::Error);
    }
    SUBCASE("missing kernel")
    {
        req.kernel_path = dir.file("nokernel");
        CHECK_THROWS_AS(eif::write_eif(req, dir.file("out.eif")), base::Error);
    }
    SUBCASE("no ramdisk")
    {
        req.ramdisks.clear();
        CHECK_THROWS_AS(eif::write_eif(req, dir.file("out.eif")), base::Error);
    }
    SUBCASE("bad signing input")
    {
        req.signing = eif::SigningInput { dir.file("nokey.pem"), dir.file("nocert.pem") };
        CHECK_THROWS_AS(eif::write_eif(req, dir.file("out.eif")), base::Error);
    }
    CHECK_FALSE(eif_test::file_exists(dir.file("out.eif")));
    CHECK(eif_test::list_dir(dir.path()).size() == only_inputs);
}

TEST_CASE("writer: same inputs give byte-identical images")
{
    eif_test::TempDir dir;
    auto req = request_for(dir, pattern(5000, 9), { "a", "b" });
    eif::write_eif(req, dir.file("one.eif"));
    eif::write_eif(req, dir.file("two.eif"));
    CHECK(eif_test::read_file(dir.file("one.eif")) == eif_test::read_file(dir.file("two.eif")));
}
