// tools/image/blob_digest.h — the sha256 digests that image blobs are named by: a streaming
// Sha256 (OpenSSL), the one-shot sha256_digest(), the error a mismatch is reported with, and
// BackgroundDigest, which checks a whole blob on a thread of its own while the caller goes on
// (make-img uses it for layers whose files it reads in place; wait_and_check() before the
// result is trusted). The digests of one image share `turns`: at most that many blobs are
// hashed at once (a docker archive of 50 plain layers does not hash 50 side by side).
//
// Usage:
//     std::string d = image::sha256_digest(bytes.data(), bytes.size());   // "sha256:<hex>"
//     std::counting_semaphore<> turns(base::available_cpus());
//     image::BackgroundDigest check(range, "sha256:ab12…", "layer 1 (blobs/sha256/ab12…)", turns);
//     ...
//     check.wait_and_check();            // throws IMG_BLOB_DIGEST_MISMATCH (or the read error)
#pragma once

#include "base/error.h"
#include "tools/image/blob_store.h"

#include <atomic>
#include <cstddef>
#include <exception>
#include <semaphore>
#include <string>
#include <thread>

struct evp_md_ctx_st;

namespace image {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, std::size_t size);
    std::string finish(); // "sha256:<hex>"

private:
    evp_md_ctx_st* m_ctx;
};

// "sha256:<hex>" of a byte range (used for manifests and configs).
std::string sha256_digest(const void* data, std::size_t size);

// IMG_BLOB_DIGEST_MISMATCH: `where` (e.g. "layer 2 (…)") hashes to actual instead of expected.
base::Error digest_mismatch(const std::string& where, const std::string& actual, const std::string& expected);

class BackgroundDigest {
public:
    // Starts hashing range once it gets a turn (range's fd and turns must outlive this).
    BackgroundDigest(const BlobRange& range, std::string expected, std::string where, std::counting_semaphore<>& turns);
    BackgroundDigest(const BackgroundDigest&) = delete;
    BackgroundDigest& operator=(const BackgroundDigest&) = delete;
    ~BackgroundDigest(); // stops early if still running

    // Waits for the whole blob; throws the mismatch, or the read error met on the way.
    void wait_and_check();
    const std::string& where() const { return m_where; }

private:
    BlobRange m_range;
    std::string m_expected;
    std::string m_where;
    std::string m_actual;
    std::exception_ptr m_error;
    std::atomic<bool> m_stop { false };
    std::thread m_thread;
};

} // namespace image
