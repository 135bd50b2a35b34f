#include "eif-format/metadata.h"
#include "eif-format/testdata/eif_test_util.h"

#include <cstdlib>
#include <doctest/doctest.h>

TEST_CASE("kernel .config line 3 gives OS and version like the AWS builder")
{
    auto a = eif::parse_kernel_config_line("# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration");
    CHECK(a.operating_system == "Linux");
    CHECK(a.kernel_version == "4.14.256");
    auto b = eif::parse_kernel_config_line("# Linux/x86_64 6.1.192 Kernel Configuration");
    CHECK(b.kernel_version == "6.1.192");
    auto c = eif::parse_kernel_config_line("garbage");
    CHECK(c.operating_system == "Unknown");
    CHECK(c.kernel_version == "Unknown");
}

TEST_CASE("kernel config is found beside the kernel")
{
    eif_test::TempDir dir;
    eif_test::write_file(dir.file("bzImage"), "k");
    CHECK(eif::kernel_config_path_for(dir.file("bzImage")).empty());
    eif_test::write_file(dir.file("config"), "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 6.1.192 Kernel Configuration\n#\n");
    CHECK(eif::kernel_config_path_for(dir.file("bzImage")) == dir.file("config"));
    eif_test::write_file(dir.file("bzImage.config"), "#\n#\n# Linux/arm64 5.10.1-x Kernel Configuration\n");
    CHECK(eif::kernel_config_path_for(dir.file("bzImage")) == dir.file("bzImage.config"));
    auto info = eif::read_kernel_config(dir.file("config"));
    CHECK(info.kernel_version == "6.1.192");
}

TEST_CASE("metadata JSON: AWS key order, compact, SOURCE_DATE_EPOCH")
{
    eif::MetadataInput in;
    in.image_name = "hello";
    in.image_version = "1.0";
    in.custom_metadata = nlohmann::ordered_json { { "b", 1 }, { "a", "x" } };
    in.build_time = 0;
    std::string text = eif::serialize_metadata(eif::build_metadata(in));
    CHECK(text == "{\"ImageName\":\"hello\",\"ImageVersion\":\"1.0\",\"BuildMetadata\":{\"BuildTime\":\"1970-01-01T00:00:00+00:00\","
                  "\"BuildTool\":\"qt-vmm\",\"BuildToolVersion\":\"" QT_VMM_VERSION "\",\"OperatingSystem\":\"Unknown\",\"KernelVersion\":\"Unknown\"},"
                  "\"DockerInfo\":null,\"CustomMetadata\":{\"b\":1,\"a\":\"x\"}}");

    ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    in.build_time.reset();
    CHECK(eif::build_metadata(in)["BuildMetadata"]["BuildTime"] == "2023-11-14T22:13:20+00:00");
    ::setenv("SOURCE_DATE_EPOCH", "17x", 1);
    CHECK_THROWS(eif::build_metadata(in));
    ::unsetenv("SOURCE_DATE_EPOCH");
}

TEST_CASE("custom metadata file: JSON of at most 4096 bytes")
{
    eif_test::TempDir dir;
    eif_test::write_file(dir.file("ok.json"), "{\"team\":\"x\"}");
    CHECK(eif::read_custom_metadata_file(dir.file("ok.json"))["team"] == "x");
    eif_test::write_file(dir.file("bad.json"), "{nope");
    CHECK_THROWS(eif::read_custom_metadata_file(dir.file("bad.json")));
    eif_test::write_file(dir.file("big.json"), "\"" + std::string(5000, 'a') + "\"");
    CHECK_THROWS(eif::read_custom_metadata_file(dir.file("big.json")));
}
