// tools/image/image_source.h — turns a --docker-uri into the pieces of one image: its config
// (JSON and digest) and its layer blobs in order, without needing a Docker daemon.
//
//   oci:DIR[:TAG]            OCI image layout (index.json → [index →] manifest → config, layers);
//                            TAG matches org.opencontainers.image.ref.name; multi-platform
//                            indexes resolve to linux/<arch> (arm64: variant v8 or none)
//   oci-archive:FILE[:TAG]   a tar of an OCI image layout
//   docker-archive:FILE[:REF] what `docker save` / `podman save` write (manifest.json)
//   NAME[:TAG]               exported through a local `docker` or `podman` (`save`), then read as
//                            a docker-archive
//
// Every manifest, config and layer is checked against its sha256 digest as it is read.
//
// Usage:
//     image::ResolvedImage img = image::resolve_image("oci:./layout:latest", eif::Arch::X86_64, "/out/app.eif", log, limits);
//     for (auto& layer : img.layers) image::read_layer(layer, i++, tree, spill);
#pragma once

#include "eif-format/eif_arch.h"
#include "tools/image/unpack_limits.h"

#include "tools/image/blob_store.h"
#include "tools/image/layer_reader.h"

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace image {

struct ResolvedImage {
    BlobStore store;                    // keeps the blobs readable
    nlohmann::ordered_json config {};   // the image config blob
    std::string config_digest {};       // "sha256:<hex>" (the image ID)
    std::vector<LayerBlob> layers {};   // lowest first
    std::string name {};                // image name without tag, for the EIF metadata
    std::string architecture {};        // config "architecture" ("amd64", "arm64", …)
};

// arch: which entry of a multi-platform index to take (the config is not checked here).
// scratch_near: where scratch files go (see TempFile); log receives progress lines.
// limits: applied to a compressed image archive as it is unpacked (blob_store.h).
ResolvedImage resolve_image(const std::string& docker_uri, eif::Arch arch, const std::string& scratch_near,
    const std::function<void(const std::string&)>& log, const UnpackLimits& limits = {});

// "registry:5000/app:v1" → "registry:5000/app"; "app@sha256:…" → "app".
std::string strip_tag(const std::string& reference);

} // namespace image
