#include "eif-format/describe.h"
#include "eif-format/eif_arch.h"
#include "eif-format/eif_layout.h"
#include "eif-format/eif_reader.h"
#include "eif-format/eif_writer.h"
#include "eif-format/metadata.h"
#include "eif-format/testdata/eif_test_util.h"

#include <doctest/doctest.h>

TEST_CASE("eif_arch: both spellings of each architecture, nothing else")
{
    CHECK(eif::parse_arch("x86_64") == eif::Arch::X86_64);
    CHECK(eif::parse_arch("amd64") == eif::Arch::X86_64);
    CHECK(eif::parse_arch("aarch64") == eif::Arch::Aarch64);
    CHECK(eif::parse_arch("arm64") == eif::Arch::Aarch64);
    for (const char* bad : { "", "arm", "ARM64", "x86", "i386", "riscv64", "arm64/v8" })
        CHECK_MESSAGE(!eif::parse_arch(bad), bad);
    CHECK(std::string(eif::arch_name(eif::Arch::Aarch64)) == "aarch64");
    CHECK(std::string(eif::arch_name(eif::Arch::X86_64)) == "x86_64");
    CHECK(std::string(eif::oci_arch_name(eif::Arch::Aarch64)) == "arm64");
    CHECK(std::string(eif::oci_arch_name(eif::Arch::X86_64)) == "amd64");
#if defined(__aarch64__)
    CHECK(eif::host_arch() == eif::Arch::Aarch64);
#else
    CHECK(eif::host_arch() == eif::Arch::X86_64);
#endif
}

TEST_CASE("eif_arch: header flag bit 0, both ways")
{
    CHECK(eif::arch_flags(eif::Arch::Aarch64) == eif::kFlagArchArm64);
    CHECK(eif::arch_flags(eif::Arch::X86_64) == 0);
    for (eif::Arch a : { eif::Arch::X86_64, eif::Arch::Aarch64 })
        CHECK(eif::arch_of_flags(eif::arch_flags(a)) == a);
}

namespace {

// Writes an EIF for `arch` with the library and returns describe-eif's report of it.
nlohmann::ordered_json describe_built(eif_test::TempDir& dir, eif::Arch arch)
{
    eif_test::write_file(dir.file("kernel"), "kernel-bytes");
    eif::BuildRequest req;
    req.kernel_path = dir.file("kernel");
    req.cmdline = "console=ttyS0";
    eif::MetadataInput md;
    md.image_name = "arch";
    md.image_version = "1";
    md.build_time = 1700000000;
    req.metadata = eif::build_metadata(md);
    req.arch_flags = eif::arch_flags(arch);
    req.ramdisks.push_back(eif::SectionSource::bytes("init"));
    req.ramdisks.push_back(eif::SectionSource::bytes("app"));
    const std::string path = dir.file(std::string(eif::arch_name(arch)) + ".eif");
    eif::write_eif(req, path);
    CHECK(eif::arch_of_flags(eif::EifReader::open(path).header().flags) == arch); // the flag round trip through a file
    return eif::describe_eif(path);
}

} // namespace

TEST_CASE("describe-eif: Arch from the header flag, right after EifVersion; the other fields unchanged")
{
    eif_test::TempDir dir;
    nlohmann::ordered_json arm = describe_built(dir, eif::Arch::Aarch64);
    nlohmann::ordered_json x86 = describe_built(dir, eif::Arch::X86_64);
    CHECK(arm["Arch"] == "aarch64");
    CHECK(x86["Arch"] == "x86_64");
    auto second_key = [](const nlohmann::ordered_json& j) { return std::next(j.begin()).key(); };
    CHECK(arm.begin().key() == "EifVersion");
    CHECK(second_key(arm) == "Arch");
    // The arch flag is in the header, not in any measured section: the PCRs are the same.
    CHECK(arm["Measurements"] == x86["Measurements"]);
    CHECK(arm["CheckCRC"] == true);
}
