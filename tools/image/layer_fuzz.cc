// tools/image/layer_fuzz.cc — libFuzzer target: any bytes as an image layer (plain/gzip/zstd
// tar) through the layer reader and the layer-merging rules, twice (as two layers, so
// whiteouts and cross-layer hardlinks meet existing entries), then into the app ramdisk when
// small. Must never crash, hang or grow without bound; a base::Error is the expected way out.
// Differential too: the layer is read once in place (its file leased) and once copied to the
// spill file (a writer holds it open, so no lease); both must fail, or give the same ramdisk.
#include "base/error.h"
#include "base/file.h"
#include "tools/image/layer_reader.h"
#include "tools/image/ramdisk.h"

#include <cstdlib>
#include <fcntl.h>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

// The app ramdisk of the layer read from `fd` (as two layers), or nullopt if that failed.
std::optional<std::string> ramdisk_of(int fd, std::size_t size, bool expect_in_place)
{
    image::LayerBlob blob { .range = { .fd = fd, .offset = 0, .size = size, .name = "fuzz" } };
    try {
        image::FileTree tree;
        image::SpillFile spill("/tmp/x");
        image::ContentSources sources(spill);
        image::UnpackTotals totals;
        const image::UnpackLimits limits { .max_unpacked_bytes = 256u << 20, .max_entries = 100'000, .max_ratio = 100 };
        image::read_layer(blob, 0, tree, sources, limits, totals);
        image::read_layer(blob, 1, tree, sources, limits, totals);
        if (sources.in_place(blob.range).has_value() != expect_in_place)
            std::abort();
        spill.flush();
        std::string out;
        if (spill.size() < (16u << 20)) {
            image::add_mount_points(tree);
            image::LaunchConfig launch { .argv = { "x" } };
            image::write_app_ramdisk(tree, sources, launch, 0, [&](const void* p, std::size_t n) {
                if (out.size() < (64u << 20))
                    out.append(static_cast<const char*>(p), n);
            });
        }
        sources.verify();
        return out;
    } catch (const base::Error&) {
        return std::nullopt;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const std::string path = [] {
        char name[] = "/tmp/qt-vmm-layer-fuzz.XXXXXX";
        int fd = ::mkstemp(name);
        if (fd < 0)
            std::abort();
        ::close(fd);
        return std::string(name);
    }();
    {
        base::UniqueFd out(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        if (!out.valid() || ::write(out.get(), data, size) != static_cast<ssize_t>(size))
            return 0;
    }
    base::UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid())
        return 0;
    std::optional<std::string> in_place = ramdisk_of(in.get(), size, true);
    base::UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC)); // no lease while this is open
    std::optional<std::string> copied = ramdisk_of(in.get(), size, false);
    if (in_place.has_value() != copied.has_value() || (in_place && *in_place != *copied))
        std::abort();
    return 0;
}
