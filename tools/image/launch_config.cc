#include "tools/image/launch_config.h"

#include "base/error.h"
#include "guest-init/forward_spec.h"

namespace image {

namespace {

[[noreturn]] void bad_config(const std::string& code, const std::string& message)
{
    throw base::Error(base::ErrorKind::InvalidInput, code, message);
}

void check_line(const std::string& value, const std::string& field)
{
    if (value.find('\n') != std::string::npos || value.find('\0') != std::string::npos)
        bad_config("IMG_CONFIG_NEWLINE", "image config " + field + " value '" + value.substr(0, value.find_first_of(std::string("\n\0", 2)))
                + "...' contains a newline or NUL, which the one-per-line /cmd and /env files cannot hold; "
                  "rebuild the image without it (e.g. wrap the command in a script)");
}

std::vector<std::string> string_array(const nlohmann::ordered_json& config, const char* key)
{
    std::vector<std::string> out;
    auto it = config.find(key);
    if (it == config.end() || it->is_null())
        return out;
    if (!it->is_array())
        bad_config("IMG_CONFIG_BAD_FIELD", std::string("image config field config.") + key + " must be an array of strings");
    for (const auto& item : *it) {
        if (!item.is_string())
            bad_config("IMG_CONFIG_BAD_FIELD", std::string("image config field config.") + key + " must be an array of strings");
        out.push_back(item.get<std::string>());
        check_line(out.back(), std::string("config.") + key);
    }
    return out;
}

std::optional<std::string> optional_string(const nlohmann::ordered_json& config, const char* key)
{
    auto it = config.find(key);
    if (it == config.end() || it->is_null())
        return std::nullopt;
    if (!it->is_string())
        bad_config("IMG_CONFIG_BAD_FIELD", std::string("image config field config.") + key + " must be a string");
    std::string value = it->get<std::string>();
    if (value.empty())
        return std::nullopt;
    check_line(value, std::string("config.") + key);
    return value;
}

std::optional<std::string> forward_lines(const nlohmann::ordered_json& config)
{
    auto labels = config.find("Labels");
    if (labels == config.end() || !labels->is_object())
        return std::nullopt;
    auto label = labels->find(kForwardLabel);
    if (label == labels->end())
        return std::nullopt;
    if (!label->is_string())
        bad_config("IMG_BAD_FORWARD", std::string("image label ") + kForwardLabel + " must be a string such as \"443:8000\"");
    guest_init::ForwardParse parse = guest_init::parse_forwards(label->get<std::string>());
    if (!parse.error.empty())
        bad_config("IMG_BAD_FORWARD", std::string("image label ") + kForwardLabel + ": " + parse.error
                + "; set it to TCP_PORT:VSOCK_PORT[,TCP_PORT:VSOCK_PORT...] and rebuild the image");
    if (parse.forwards.empty())
        return std::nullopt;
    return guest_init::forwards_to_lines(parse.forwards);
}

} // namespace

LaunchConfig launch_config_from_image_config(const nlohmann::ordered_json& image_config)
{
    if (!image_config.is_object())
        bad_config("IMG_CONFIG_BAD_FIELD", "image config must be a JSON object");
    static const nlohmann::ordered_json empty = nlohmann::ordered_json::object();
    auto it = image_config.find("config");
    const nlohmann::ordered_json& config = (it != image_config.end() && it->is_object()) ? *it : empty;

    LaunchConfig out;
    out.argv = string_array(config, "Entrypoint");
    std::vector<std::string> cmd = string_array(config, "Cmd");
    out.argv.insert(out.argv.end(), cmd.begin(), cmd.end());
    if (out.argv.empty())
        bad_config("IMG_NO_COMMAND", "the image has neither Entrypoint nor Cmd, so there is nothing to run; "
                                     "add CMD or ENTRYPOINT to the image (Dockerfile) and rebuild it");
    out.env = string_array(config, "Env");
    out.workdir = optional_string(config, "WorkingDir");
    out.user = optional_string(config, "User");
    out.forward = forward_lines(config);
    return out;
}

std::string to_lines(const std::vector<std::string>& lines)
{
    std::string out;
    for (const auto& line : lines) {
        out += line;
        out.push_back('\n');
    }
    return out;
}

} // namespace image
