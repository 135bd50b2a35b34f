#include "eif-format/metadata.h"

#include "base/error.h"
#include "base/file.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sys/stat.h>
#include <vector>

namespace eif {

std::string rfc3339_utc(std::int64_t seconds)
{
    auto t = static_cast<std::time_t>(seconds);
    struct tm tm {};
    if (!::gmtime_r(&t, &tm))
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_TIME", "build time " + std::to_string(seconds) + " is out of range");
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buffer;
}

std::int64_t build_time_now()
{
    const char* env = std::getenv("SOURCE_DATE_EPOCH");
    if (env && *env) {
        std::string text(env);
        bool digits = text.size() <= 18 && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits)
            throw base::Error(base::ErrorKind::InvalidInput, "BAD_SOURCE_DATE_EPOCH",
                "SOURCE_DATE_EPOCH=\"" + text + "\" is not a number of seconds since 1970; unset it or fix it");
        return std::stoll(text);
    }
    return static_cast<std::int64_t>(std::time(nullptr));
}

KernelInfo parse_kernel_config_line(const std::string& line)
{
    // Like the AWS builder: split on ' ', '/' and '-'; word 1 is the OS, word 3 the version.
    std::vector<std::string> words(1);
    for (char c : line) {
        if (c == ' ' || c == '/' || c == '-')
            words.emplace_back();
        else
            words.back() += c;
    }
    KernelInfo info;
    if (words.size() > 3 && words[0] == "#" && !words[1].empty() && !words[3].empty()) {
        info.operating_system = words[1];
        info.kernel_version = words[3];
    }
    return info;
}

KernelInfo read_kernel_config(const std::string& config_path)
{
    if (config_path.empty())
        return {};
    std::ifstream in(config_path);
    std::string line;
    for (int i = 0; i < 3; ++i) {
        if (!std::getline(in, line))
            return {};
    }
    return parse_kernel_config_line(line);
}

std::string kernel_config_path_for(const std::string& kernel_path)
{
    struct stat st {};
    std::string beside = kernel_path + ".config";
    if (::stat(beside.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        return beside;
    auto slash = kernel_path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : kernel_path.substr(0, slash);
    std::string config = dir + "/config";
    if (::stat(config.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        return config;
    return {};
}

nlohmann::ordered_json read_custom_metadata_file(const std::string& path)
{
    std::string text = base::read_file(path, kMaxCustomMetadataFile);
    auto value = nlohmann::ordered_json::parse(text, nullptr, false);
    if (value.is_discarded())
        throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_METADATA_FILE",
            "metadata file " + path + " is not valid JSON; pass a JSON file of at most 4096 bytes");
    return value;
}

nlohmann::ordered_json build_metadata(const MetadataInput& input)
{
    KernelInfo kernel = read_kernel_config(input.kernel_config_path);
    std::int64_t when = input.build_time ? *input.build_time : build_time_now();
    nlohmann::ordered_json build;
    build["BuildTime"] = rfc3339_utc(when);
    build["BuildTool"] = input.build_tool;
    build["BuildToolVersion"] = input.build_tool_version;
    build["OperatingSystem"] = kernel.operating_system;
    build["KernelVersion"] = kernel.kernel_version;
    nlohmann::ordered_json md;
    md["ImageName"] = input.image_name;
    md["ImageVersion"] = input.image_version;
    md["BuildMetadata"] = std::move(build);
    md["DockerInfo"] = input.docker_info;
    md["CustomMetadata"] = input.custom_metadata;
    return md;
}

std::string serialize_metadata(const nlohmann::ordered_json& metadata)
{
    return metadata.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

} // namespace eif
