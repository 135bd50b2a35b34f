#include "tools/image/blob_digest.h"

#include "base/file.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

#include <memory>
#include <semaphore>
#include <string>
#include <vector>

TEST_CASE("BackgroundDigest: blobs hashed one turn at a time, each checked; a wrong one named; one destroyed before its turn stops")
{
    image_test::ScratchDir dir;
    std::string path = (dir.path / "archive").string();
    std::string bytes;
    for (int i = 0; i < 6; ++i)
        bytes += std::string(static_cast<std::size_t>(300'000 + i * 1000), static_cast<char>('a' + i));
    image_test::write_text(path, bytes);
    base::UniqueFd fd = base::open_read(path);

    std::counting_semaphore<> turns(1); // one blob at a time: the others wait for the turn
    std::vector<std::unique_ptr<image::BackgroundDigest>> digests;
    std::uint64_t at = 0;
    for (int i = 0; i < 6; ++i) {
        std::uint64_t size = 300'000 + static_cast<std::uint64_t>(i) * 1000;
        image::BlobRange range { .fd = fd.get(), .offset = at, .size = size, .name = "archive:layer" + std::to_string(i) };
        std::string expected = image::sha256_digest(bytes.data() + at, size);
        if (i == 4)
            expected = image::sha256_digest("something else", 14);
        digests.push_back(std::make_unique<image::BackgroundDigest>(range, expected, "layer " + std::to_string(i + 1), turns));
        at += size;
    }
    for (int i = 0; i < 6; ++i) {
        CAPTURE(i);
        if (i == 4) {
            try {
                digests[4]->wait_and_check();
                FAIL("a wrong digest passed");
            } catch (const base::Error& e) {
                CHECK(e.code() == "IMG_BLOB_DIGEST_MISMATCH");
                CHECK(std::string(e.what()).find("layer 5 has digest sha256:") == 0);
            }
        } else {
            CHECK_NOTHROW(digests[static_cast<std::size_t>(i)]->wait_and_check());
        }
    }

    // Every turn taken (as by hashing elsewhere): a digest destroyed while it waits returns.
    turns.acquire();
    {
        image::BlobRange range { .fd = fd.get(), .offset = 0, .size = 10, .name = "archive" };
        image::BackgroundDigest waiting(range, "sha256:00", "layer 9", turns);
    }
    turns.release();
}
