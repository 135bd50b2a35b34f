// tools/image/container_cli.h — exports a local image through the `docker` or `podman` command
// line (`save`, which writes a docker-archive) for make-img's plain NAME[:TAG] sources.
//
// Tries docker, then podman (whichever are on PATH). If the image is not present locally but the
// daemon answers, it is pulled first. When neither works, the error says why for each (no daemon
// reachable, not installed, …) and suggests the daemon-less sources docker-archive:/oci:.
//
// Usage:
//     image::TempFile tar = image::export_with_container_cli("nginx:latest", "/out/app.eif", log);
//     auto store = image::BlobStore::open_archive(tar.path(), "/out/app.eif");
#pragma once

#include "tools/image/temp_file.h"

#include <functional>
#include <string>

namespace image {

TempFile export_with_container_cli(const std::string& reference, const std::string& scratch_near,
    const std::function<void(const std::string&)>& log);

} // namespace image
