// tools/image/launch_config.h — what the guest init runs, derived from an image config the way
// Docker does it: argv = Entrypoint followed by Cmd (either alone if the other is empty), env =
// Config.Env, plus WorkingDir and User when the image sets them, and the egress forwarders of
// the label qt-vmm.forward ("TCP_PORT:VSOCK_PORT[,...]", see guest-init/forward_spec.h).
// Rendered as the line files of ramdisk 1 (/cmd, /env, /workdir, /user, /forward) that
// guest-init parses.
//
// Usage:
//     image::LaunchConfig launch = image::launch_config_from_image_config(config_json);
//     std::string cmd = image::to_lines(launch.argv);       // "/bin/sh\n-c\necho hi\n"
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace image {

struct LaunchConfig {
    std::vector<std::string> argv;
    std::vector<std::string> env;
    std::optional<std::string> workdir; // set only when the image has a non-empty WorkingDir
    std::optional<std::string> user;    // set only when the image has a non-empty User
    std::optional<std::string> forward; // /forward's lines, set only when the label declares forwarders
};

// The image label that declares guest-init's TCP → vsock forwarders.
constexpr const char* kForwardLabel = "qt-vmm.forward";

// image_config is the OCI/Docker image config blob ({"architecture", "config": {...}, ...}).
// Throws base::Error when there is nothing to run, a field has the wrong JSON type, or a value
// contains a newline or NUL (the one-per-line files cannot hold it), or the qt-vmm.forward label
// is malformed (IMG_BAD_FORWARD).
LaunchConfig launch_config_from_image_config(const nlohmann::ordered_json& image_config);

// One element per line, each ending in '\n'.
std::string to_lines(const std::vector<std::string>& lines);

} // namespace image
