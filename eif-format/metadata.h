// eif-format/metadata.h — the JSON of the EIF metadata section (type 5), in the AWS key order
// and compact serialization: {"ImageName", "ImageVersion", "BuildMetadata": {"BuildTime",
// "BuildTool", "BuildToolVersion", "OperatingSystem", "KernelVersion"}, "DockerInfo",
// "CustomMetadata"}.
//
// Usage:
//     eif::MetadataInput in;
//     in.image_name = "hello"; in.image_version = "1.0";
//     in.kernel_config_path = eif::kernel_config_path_for("/cache/kernel/bzImage");
//     nlohmann::ordered_json md = eif::build_metadata(in);
//     std::string bytes = eif::serialize_metadata(md);   // what goes into the section
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace eif {

inline constexpr const char* kBuildTool = "qt-vmm";
#ifndef QT_VMM_VERSION
#define QT_VMM_VERSION "0.1.0"
#endif
inline constexpr const char* kBuildToolVersion = QT_VMM_VERSION;
inline constexpr std::size_t kMaxCustomMetadataFile = 4096; // nitro-cli's --metadata limit

struct MetadataInput {
    std::string image_name;
    std::string image_version;
    // The kernel's .config; line 3 gives OperatingSystem and KernelVersion. Empty or unreadable
    // → both "Unknown".
    std::string kernel_config_path;
    nlohmann::ordered_json docker_info = nullptr;     // e.g. the image config; null if none
    nlohmann::ordered_json custom_metadata = nullptr; // --metadata file contents; null if none
    // Build time in seconds since the epoch; default: $SOURCE_DATE_EPOCH if set, else now.
    std::optional<std::int64_t> build_time;
    std::string build_tool { kBuildTool };
    std::string build_tool_version { kBuildToolVersion };
};

nlohmann::ordered_json build_metadata(const MetadataInput& input);
// Compact JSON (no whitespace), keys in insertion order.
std::string serialize_metadata(const nlohmann::ordered_json& metadata);

// RFC 3339 UTC like chrono's to_rfc3339() for whole seconds: "2024-01-02T03:04:05+00:00".
std::string rfc3339_utc(std::int64_t seconds);
// Seconds from $SOURCE_DATE_EPOCH (throws on a malformed value) or the current time.
std::int64_t build_time_now();

// {"Linux", "6.1.0"} from "# Linux/x86_64 6.1.0 Kernel Configuration" (line 3 of a .config).
struct KernelInfo {
    std::string operating_system { "Unknown" };
    std::string kernel_version { "Unknown" };
};
KernelInfo parse_kernel_config_line(const std::string& line);
KernelInfo read_kernel_config(const std::string& config_path);
// "<kernel>.config" if it exists, else "config" beside the kernel, else "".
std::string kernel_config_path_for(const std::string& kernel_path);
// Reads a --metadata JSON file (≤ 4096 bytes, valid JSON); throws base::Error otherwise.
nlohmann::ordered_json read_custom_metadata_file(const std::string& path);

} // namespace eif
