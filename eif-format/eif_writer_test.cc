#include "base/chunk_pipeline.h"
#include "base/error.h"
#include "eif-format/eif_reader.h"
#include "eif-format/eif_writer.h"
#include "eif-format/testdata/eif_test_util.h"

#include <doctest/doctest.h>

#include <csignal>
#include <sched.h>
#include <sys/resource.h>

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
    SUBCASE("producer throws after megabytes, with the pipeline's stages mid-stream")
    {
        req.ramdisks.push_back(eif::SectionSource::producer([](const eif::ChunkSink& sink) {
            std::string block = pattern(65536, 4);
            for (int i = 0; i < 80; ++i)
                sink(block.data(), block.size());
            throw base::Error(base::ErrorKind::InvalidInput, "TEST", "boom");
        }));
        CHECK_THROWS_WITH(eif::write_eif(req, dir.file("out.eif")), "boom");
    }
    SUBCASE("the CRC + write stage fails (file size limit): the hash stages stop too")
    {
        req.ramdisks.push_back(eif::SectionSource::bytes(pattern(6 << 20, 5)));
        struct rlimit old {};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
        auto old_handler = ::signal(SIGXFSZ, SIG_IGN); // write() then fails with EFBIG
        struct rlimit small = old;
        small.rlim_cur = 1 << 20;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        std::string error;
        try {
            eif::write_eif(req, dir.file("out.eif"));
        } catch (const base::Error& e) {
            error = e.what();
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        ::signal(SIGXFSZ, old_handler);
        CHECK(error.find("cannot write") != std::string::npos);
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

TEST_CASE("writer: one CPU (stages inline) and all CPUs (stages on threads) give identical bytes")
{
    eif_test::TempDir dir;
    std::vector<std::string> ramdisks { pattern(300'000, 6), pattern(5'000'000, 7), pattern(1'000'001, 8) };
    auto req = request_for(dir, pattern(3'000'000, 9), ramdisks);
    cpu_set_t all;
    REQUIRE(::sched_getaffinity(0, sizeof all, &all) == 0);
    if (CPU_COUNT(&all) < 2)
        MESSAGE("only one CPU here: both images are built with the stages inline");
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &all)) {
            CPU_SET(cpu, &one);
            break;
        }
    REQUIRE(::sched_setaffinity(0, sizeof one, &one) == 0);
    REQUIRE(base::available_cpus() == 1);
    eif::Measurements single = eif::write_eif(req, dir.file("one-cpu.eif"));
    REQUIRE(::sched_setaffinity(0, sizeof all, &all) == 0);
    eif::Measurements threaded = eif::write_eif(req, dir.file("all-cpus.eif"));
    CHECK(eif_test::read_file(dir.file("one-cpu.eif")) == eif_test::read_file(dir.file("all-cpus.eif")));
    CHECK(single.pcr0 == threaded.pcr0);
    CHECK(single.pcr1 == threaded.pcr1);
    CHECK(single.pcr2 == threaded.pcr2);
    CHECK(threaded.pcr2 == eif_test::pcr_of(ramdisks[1] + ramdisks[2]));
}

TEST_CASE("writer: same inputs give byte-identical images")
{
    eif_test::TempDir dir;
    auto req = request_for(dir, pattern(5000, 9), { "a", "b" });
    eif::write_eif(req, dir.file("one.eif"));
    eif::write_eif(req, dir.file("two.eif"));
    CHECK(eif_test::read_file(dir.file("one.eif")) == eif_test::read_file(dir.file("two.eif")));
}
