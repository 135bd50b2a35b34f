// tools/image/layer_fuzz.cc — libFuzzer target: any bytes as an image layer (plain/gzip/zstd
// tar) through the layer reader and the layer-merging rules, twice (as two layers, so
// whiteouts and cross-layer hardlinks meet existing entries), then into the app ramdisk when
// small. Must never crash, hang or grow without bound; a base::Error is the expected way out.
#include "base/error.h"
#include "tools/image/layer_reader.h"
#include "tools/image/ramdisk.h"

#include <sys/mman.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static int fd = ::memfd_create("layer", MFD_CLOEXEC);
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
        return 0;
    image::LayerBlob blob { .range = { .fd = fd, .offset = 0, .size = size, .name = "fuzz" } };
    try {
        image::FileTree tree;
        image::SpillFile spill("/tmp/x");
        image::UnpackTotals totals;
        const image::UnpackLimits limits { .max_unpacked_bytes = 256u << 20, .max_entries = 100'000, .max_ratio = 100 };
        image::read_layer(blob, 0, tree, spill, limits, totals);
        image::read_layer(blob, 1, tree, spill, limits, totals);
        spill.flush();
        if (spill.size() < (16u << 20)) {
            image::add_mount_points(tree);
            image::LaunchConfig launch { .argv = { "x" } };
            std::uint64_t total = 0;
            image::write_app_ramdisk(tree, spill.fd(), launch, 0, [&](const void*, std::size_t n) { total += n; });
        }
    } catch (const base::Error&) {
    }
    return 0;
}
