#include "tools/image/image_source.h"

#include "base/error.h"
#include "tools/image/container_cli.h"

#include <optional>
#include <sys/stat.h>

namespace image {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kMaxJsonBlob = 4 << 20;   // index, manifest
constexpr std::size_t kMaxConfigBlob = 16 << 20; // configs carry the build history

const std::string kRefNameAnnotation = "org.opencontainers.image.ref.name";
const std::string kContainerdNameAnnotation = "io.containerd.image.name";

[[noreturn]] void bad_image(const std::string& code, const std::string& message)
{
    throw base::Error(base::ErrorKind::InvalidInput, code, message);
}

Json parse_json(const std::string& text, const std::string& what)
{
    try {
        return Json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        bad_image("IMG_BAD_JSON", what + " is not valid JSON (" + e.what() + ")");
    }
}

std::string string_field(const Json& object, const std::string& key)
{
    auto it = object.find(key);
    return (it != object.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

bool is_sha256_hex(const std::string& hex)
{
    if (hex.size() != 64)
        return false;
    for (char c : hex)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

// "sha256:<hex>" → "<hex>"; anything else is refused (it also names a file, so it must be tame).
std::string digest_hex(const std::string& digest, const std::string& where)
{
    if (digest.rfind("sha256:", 0) != 0 || !is_sha256_hex(digest.substr(7)))
        bad_image("IMG_BAD_DIGEST", where + " has digest '" + digest + "'; only sha256:<64 lower-case hex digits> is supported");
    return digest.substr(7);
}

bool path_exists(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string basename_of(std::string path)
{
    while (path.size() > 1 && path.back() == '/')
        path.pop_back();
    auto slash = path.rfind('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    for (const char* ext : { ".tar.gz", ".tgz", ".tar.zst", ".tar" })
        if (base.size() > std::string(ext).size() && base.compare(base.size() - std::string(ext).size(), std::string::npos, ext) == 0)
            return base.substr(0, base.size() - std::string(ext).size());
    return base;
}

// "PATH[:SUFFIX]" where PATH itself may contain ':' — the longest existing prefix wins.
std::pair<std::string, std::string> split_path_suffix(const std::string& rest)
{
    if (path_exists(rest))
        return { rest, "" };
    for (std::size_t colon = rest.rfind(':'); colon != std::string::npos && colon > 0; colon = rest.rfind(':', colon - 1)) {
        if (path_exists(rest.substr(0, colon)))
            return { rest.substr(0, colon), rest.substr(colon + 1) };
    }
    std::size_t colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find('/', colon) == std::string::npos)
        return { rest.substr(0, colon), rest.substr(colon + 1) };
    return { rest, "" };
}

// Reads a blob named by a descriptor from an OCI layout, checking size and digest.
std::string read_descriptor_blob(const BlobStore& store, const Json& descriptor, const std::string& what, std::size_t max_bytes)
{
    std::string digest = string_field(descriptor, "digest");
    std::string hex = digest_hex(digest, what);
    BlobRange range = store.find("blobs/sha256/" + hex);
    auto size = descriptor.find("size");
    if (size != descriptor.end() && size->is_number_unsigned() && size->get<std::uint64_t>() != range.size)
        bad_image("IMG_BLOB_SIZE_MISMATCH", range.name + " is " + std::to_string(range.size) + " bytes but " + what + " says " + std::to_string(size->get<std::uint64_t>()));
    std::string bytes = store.read_small(range, max_bytes);
    std::string actual = sha256_digest(bytes.data(), bytes.size());
    if (actual != digest)
        bad_image("IMG_BLOB_DIGEST_MISMATCH", range.name + " has digest " + actual + " but " + what + " expects " + digest + "; the image is corrupt or was modified");
    return bytes;
}

bool is_index_media_type(const std::string& type)
{
    return type == "application/vnd.oci.image.index.v1+json" || type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

std::string describe_platform(const Json& descriptor)
{
    auto p = descriptor.find("platform");
    if (p == descriptor.end() || !p->is_object())
        return "no platform";
    std::string out = string_field(*p, "os") + "/" + string_field(*p, "architecture");
    if (!string_field(*p, "variant").empty())
        out += "/" + string_field(*p, "variant");
    return out;
}

// True for the index entry of linux/<arch> (for arm64 with no variant or variant v8).
bool is_platform(const Json& descriptor, eif::Arch arch)
{
    auto p = descriptor.find("platform");
    if (p == descriptor.end() || !p->is_object() || string_field(*p, "os") != "linux" || string_field(*p, "architecture") != eif::oci_arch_name(arch))
        return false;
    std::string variant = string_field(*p, "variant");
    return arch != eif::Arch::Aarch64 || variant.empty() || variant == "v8";
}

// Picks one descriptor from an index's "manifests": by tag if given, else the only one, else
// the linux/<arch> one.
Json choose_manifest(const Json& index, const std::string& tag, eif::Arch arch, const std::string& where)
{
    auto manifests = index.find("manifests");
    if (manifests == index.end() || !manifests->is_array() || manifests->empty())
        bad_image("IMG_EMPTY_INDEX", where + " lists no images");
    std::vector<Json> candidates;
    std::vector<std::string> names;
    for (const Json& d : *manifests) {
        if (!d.is_object())
            bad_image("IMG_BAD_INDEX", where + " has a manifest entry that is not an object");
        std::string ref, full;
        if (auto a = d.find("annotations"); a != d.end() && a->is_object()) {
            ref = string_field(*a, kRefNameAnnotation);
            full = string_field(*a, kContainerdNameAnnotation);
        }
        if (!ref.empty())
            names.push_back(ref);
        if (tag.empty() || ref == tag || full == tag
            || (ref.size() > tag.size() && ref.compare(ref.size() - tag.size() - 1, std::string::npos, ":" + tag) == 0))
            candidates.push_back(d);
    }
    if (candidates.empty()) {
        std::string list;
        for (const auto& n : names)
            list += (list.empty() ? "" : ", ") + n;
        bad_image("IMG_TAG_NOT_FOUND", where + " has no image tagged '" + tag + "' (tags: " + (list.empty() ? "none" : list) + ")");
    }
    if (candidates.size() == 1)
        return candidates.front();
    // Several: a multi-platform set → linux/<arch>.
    std::string platforms;
    for (const Json& d : candidates) {
        if (is_platform(d, arch))
            return d;
        platforms += (platforms.empty() ? "" : ", ") + describe_platform(d);
    }
    std::string list;
    for (const auto& n : names)
        list += (list.empty() ? "" : ", ") + n;
    bool any_platform = false;
    for (const Json& d : candidates)
        any_platform = any_platform || d.contains("platform");
    bad_image("IMG_AMBIGUOUS_IMAGE", where + " holds " + std::to_string(candidates.size()) + " images"
            + (any_platform ? " (" + platforms + ") and none is linux/" + eif::oci_arch_name(arch) : "") + "; pick one with :TAG"
            + (list.empty() ? "" : " (tags: " + list + ")"));
}

void load_config(ResolvedImage& image, const std::string& bytes, const std::string& where)
{
    image.config = parse_json(bytes, where);
    if (!image.config.is_object())
        bad_image("IMG_BAD_CONFIG", where + " is not a JSON object");
    image.config_digest = sha256_digest(bytes.data(), bytes.size());
    image.architecture = string_field(image.config, "architecture");
}

std::vector<std::string> diff_ids(const ResolvedImage& image, const std::string& where)
{
    std::vector<std::string> out;
    auto rootfs = image.config.find("rootfs");
    if (rootfs == image.config.end() || !rootfs->is_object())
        return out;
    auto ids = rootfs->find("diff_ids");
    if (ids == rootfs->end() || !ids->is_array())
        return out;
    for (const auto& id : *ids) {
        if (!id.is_string())
            bad_image("IMG_BAD_CONFIG", where + ": rootfs.diff_ids must hold strings");
        out.push_back(id.get<std::string>());
    }
    return out;
}

ResolvedImage resolve_oci(BlobStore store, const std::string& tag, eif::Arch arch, const std::string& fallback_name,
    const std::function<void(const std::string&)>& log)
{
    ResolvedImage image { .store = std::move(store) };
    const std::string label = image.store.label();
    if (image.store.lookup("oci-layout").fd < 0)
        bad_image("IMG_NOT_OCI_LAYOUT", label + " is not an OCI image layout (no oci-layout file); pass a directory/archive written by `skopeo copy ... oci:DIR` or use docker-archive:FILE");
    Json layout = parse_json(image.store.read_small(image.store.find("oci-layout"), 4096), label + "/oci-layout");
    if (!layout.is_object() || string_field(layout, "imageLayoutVersion").empty())
        bad_image("IMG_NOT_OCI_LAYOUT", label + "/oci-layout has no imageLayoutVersion");
    Json index = parse_json(image.store.read_small(image.store.find("index.json"), kMaxJsonBlob), label + "/index.json");
    if (!index.is_object())
        bad_image("IMG_BAD_INDEX", label + "/index.json is not a JSON object");

    Json descriptor = choose_manifest(index, tag, arch, label + "/index.json");
    image.name = fallback_name;
    if (auto a = descriptor.find("annotations"); a != descriptor.end() && a->is_object()) {
        std::string full = string_field(*a, kContainerdNameAnnotation);
        std::string ref = string_field(*a, kRefNameAnnotation);
        if (!full.empty())
            image.name = strip_tag(full);
        else if (ref.find_first_of("/:") != std::string::npos)
            image.name = strip_tag(ref);
    }
    Json manifest;
    for (int depth = 0;; ++depth) {
        if (depth > 4)
            bad_image("IMG_BAD_INDEX", label + ": image indexes nested too deeply");
        std::string what = "manifest " + string_field(descriptor, "digest");
        Json doc = parse_json(read_descriptor_blob(image.store, descriptor, what, kMaxJsonBlob), label + ": " + what);
        if (!doc.is_object())
            bad_image("IMG_BAD_MANIFEST", label + ": " + what + " is not a JSON object");
        std::string type = string_field(descriptor, "mediaType");
        if (type.empty())
            type = string_field(doc, "mediaType");
        if (is_index_media_type(type) || (type.empty() && doc.contains("manifests"))) {
            log(std::string("Selecting linux/") + eif::oci_arch_name(arch) + " from the image index...");
            descriptor = choose_manifest(doc, "", arch, label + ": index " + string_field(descriptor, "digest"));
            continue;
        }
        manifest = std::move(doc);
        break;
    }
    auto config = manifest.find("config");
    if (config == manifest.end() || !config->is_object())
        bad_image("IMG_BAD_MANIFEST", label + ": the manifest has no config descriptor");
    load_config(image, read_descriptor_blob(image.store, *config, "the manifest's config", kMaxConfigBlob), label + ": image config");
    auto layers = manifest.find("layers");
    if (layers == manifest.end() || !layers->is_array())
        bad_image("IMG_BAD_MANIFEST", label + ": the manifest has no layers array");
    for (const Json& d : *layers) {
        if (!d.is_object())
            bad_image("IMG_BAD_MANIFEST", label + ": a layer descriptor is not an object");
        std::string type = string_field(d, "mediaType");
        if (type.find("encrypted") != std::string::npos)
            bad_image("IMG_UNSUPPORTED_LAYER", label + ": layer " + string_field(d, "digest") + " is encrypted (" + type + "); decrypt the image first");
        std::string digest = string_field(d, "digest");
        BlobRange range = image.store.find("blobs/sha256/" + digest_hex(digest, "a layer descriptor"));
        auto size = d.find("size");
        if (size != d.end() && size->is_number_unsigned() && size->get<std::uint64_t>() != range.size)
            bad_image("IMG_BLOB_SIZE_MISMATCH", range.name + " is " + std::to_string(range.size) + " bytes but its descriptor says " + std::to_string(size->get<std::uint64_t>()));
        image.layers.push_back(LayerBlob { .range = range, .digest = digest });
    }
    return image;
}

// A member name that is itself a digest ("blobs/sha256/<hex>", "<hex>.json") → that digest.
std::optional<std::string> digest_from_member_name(const std::string& name)
{
    std::string base = name;
    if (base.rfind("blobs/sha256/", 0) == 0)
        base = base.substr(13);
    if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0)
        base = base.substr(0, base.size() - 5);
    if (is_sha256_hex(base))
        return "sha256:" + base;
    return std::nullopt;
}

ResolvedImage resolve_docker_archive(BlobStore store, const std::string& reference, const std::string& fallback_name)
{
    ResolvedImage image { .store = std::move(store) };
    const std::string label = image.store.label();
    BlobRange manifest_range = image.store.lookup("manifest.json");
    if (manifest_range.fd < 0)
        bad_image("IMG_NOT_DOCKER_ARCHIVE", label + " has no manifest.json, so it is not a `docker save` archive"
                + std::string(image.store.lookup("oci-layout").fd >= 0 ? "; it is an OCI layout: use oci-archive:" + label : ""));
    Json manifest = parse_json(image.store.read_small(manifest_range, kMaxJsonBlob), label + ":manifest.json");
    if (!manifest.is_array() || manifest.empty())
        bad_image("IMG_BAD_MANIFEST", label + ":manifest.json must be a non-empty array");

    const Json* chosen = nullptr;
    std::string all_tags;
    for (const Json& entry : manifest) {
        if (!entry.is_object())
            bad_image("IMG_BAD_MANIFEST", label + ":manifest.json has an entry that is not an object");
        auto tags = entry.find("RepoTags");
        if (tags != entry.end() && tags->is_array()) {
            for (const Json& t : *tags) {
                if (!t.is_string())
                    continue;
                std::string s = t.get<std::string>();
                all_tags += (all_tags.empty() ? "" : ", ") + s;
                if (!reference.empty() && !chosen && (s == reference || s == reference + ":latest" || s == "docker.io/library/" + reference || s == "docker.io/library/" + reference + ":latest"
                        || s == "localhost/" + reference || s == "localhost/" + reference + ":latest"))
                    chosen = &entry;
            }
        }
    }
    if (reference.empty()) {
        if (manifest.size() > 1)
            bad_image("IMG_AMBIGUOUS_IMAGE", label + " holds " + std::to_string(manifest.size()) + " images; pick one with docker-archive:" + label + ":NAME:TAG (tags: " + all_tags + ")");
        chosen = &manifest[0];
    } else if (!chosen) {
        if (manifest.size() == 1)
            chosen = &manifest[0]; // `docker save NAME` of an untagged or re-tagged image
        else
            bad_image("IMG_TAG_NOT_FOUND", label + " has no image tagged '" + reference + "' (tags: " + (all_tags.empty() ? "none" : all_tags) + ")");
    }

    image.name = fallback_name;
    if (!reference.empty())
        image.name = strip_tag(reference);
    else if (auto tags = chosen->find("RepoTags"); tags != chosen->end() && tags->is_array() && !tags->empty() && (*tags)[0].is_string())
        image.name = strip_tag((*tags)[0].get<std::string>());

    std::string config_name = string_field(*chosen, "Config");
    if (config_name.empty())
        bad_image("IMG_BAD_MANIFEST", label + ":manifest.json has no Config for the image");
    std::string config_bytes = image.store.read_small(image.store.find(config_name), kMaxConfigBlob);
    load_config(image, config_bytes, label + ":" + config_name);
    if (auto expected = digest_from_member_name(config_name); expected && *expected != image.config_digest)
        bad_image("IMG_BLOB_DIGEST_MISMATCH", label + ":" + config_name + " has digest " + image.config_digest + " but its name says " + *expected + "; the archive is corrupt or was modified");

    std::vector<std::string> ids = diff_ids(image, label + ":" + config_name);
    auto layers = chosen->find("Layers");
    if (layers == chosen->end() || !layers->is_array())
        bad_image("IMG_BAD_MANIFEST", label + ":manifest.json has no Layers for the image");
    if (ids.size() != layers->size())
        bad_image("IMG_BAD_CONFIG", label + ": the image config lists " + std::to_string(ids.size()) + " layer diff_ids but manifest.json lists "
                + std::to_string(layers->size()) + " layers");
    for (std::size_t i = 0; i < layers->size(); ++i) {
        const Json& l = (*layers)[i];
        if (!l.is_string())
            bad_image("IMG_BAD_MANIFEST", label + ":manifest.json Layers must hold strings");
        std::string name = l.get<std::string>();
        LayerBlob blob { .range = image.store.find(name) };
        if (auto d = digest_from_member_name(name)) {
            blob.digest = *d;
        } else {
            digest_hex(ids[i], label + ": rootfs.diff_ids[" + std::to_string(i) + "]");
            blob.digest = ids[i];
            blob.digest_is_diff_id = true;
        }
        image.layers.push_back(std::move(blob));
    }
    return image;
}

} // namespace

std::string strip_tag(const std::string& reference)
{
    std::string out = reference.substr(0, reference.find('@'));
    std::size_t slash = out.rfind('/');
    std::size_t colon = out.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
        out = out.substr(0, colon);
    return out;
}

ResolvedImage resolve_image(const std::string& docker_uri, eif::Arch arch, const std::string& scratch_near,
    const std::function<void(const std::string&)>& log, const UnpackLimits& limits)
{
    auto has_prefix = [&](const char* prefix) { return docker_uri.rfind(prefix, 0) == 0; };
    if (docker_uri.empty())
        throw base::Error(base::ErrorKind::Usage, "IMG_NO_SOURCE", "--docker-uri is empty; pass oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or NAME[:TAG]");
    if (has_prefix("oci:")) {
        auto [dir, tag] = split_path_suffix(docker_uri.substr(4));
        log("Reading OCI image layout " + dir + (tag.empty() ? "" : " (tag " + tag + ")") + "...");
        return resolve_oci(BlobStore::open_directory(dir), tag, arch, basename_of(dir), log);
    }
    if (has_prefix("oci-archive:")) {
        auto [file, tag] = split_path_suffix(docker_uri.substr(12));
        log("Reading OCI archive " + file + (tag.empty() ? "" : " (tag " + tag + ")") + "...");
        return resolve_oci(BlobStore::open_archive(file, scratch_near, limits), tag, arch, basename_of(file), log);
    }
    if (has_prefix("docker-archive:")) {
        auto [file, reference] = split_path_suffix(docker_uri.substr(15));
        log("Reading docker archive " + file + "...");
        return resolve_docker_archive(BlobStore::open_archive(file, scratch_near, limits), reference, basename_of(file));
    }
    if (docker_uri.find("://") != std::string::npos || docker_uri.find_first_of(" \t\n") != std::string::npos)
        throw base::Error(base::ErrorKind::Usage, "IMG_BAD_SOURCE", "--docker-uri '" + docker_uri + "' is not understood; pass oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or NAME[:TAG]");
    TempFile exported = export_with_container_cli(docker_uri, scratch_near, log);
    ResolvedImage image = resolve_docker_archive(BlobStore::open_archive(exported.path(), scratch_near, limits), docker_uri, strip_tag(docker_uri));
    image.name = strip_tag(docker_uri);
    return image;
}

} // namespace image
