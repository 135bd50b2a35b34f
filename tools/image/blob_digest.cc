#include "tools/image/blob_digest.h"

#include "base/file.h"
#include "base/hex.h"

#include <chrono>
#include <openssl/evp.h>
#include <vector>

namespace image {

Sha256::Sha256()
    : m_ctx(EVP_MD_CTX_new())
{
    if (!m_ctx || EVP_DigestInit_ex(m_ctx, EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(m_ctx);
        throw base::Error(base::ErrorKind::Internal, "IMG_SHA256", "cannot initialise SHA-256 (OpenSSL)");
    }
}

Sha256::~Sha256() { EVP_MD_CTX_free(m_ctx); }

void Sha256::update(const void* data, std::size_t size) { EVP_DigestUpdate(m_ctx, data, size); }

std::string Sha256::finish()
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_ctx, out, &len);
    return "sha256:" + base::to_hex(out, len);
}

std::string sha256_digest(const void* data, std::size_t size)
{
    Sha256 sha {};
    sha.update(data, size);
    return sha.finish();
}

base::Error digest_mismatch(const std::string& where, const std::string& actual, const std::string& expected)
{
    return base::Error(base::ErrorKind::InvalidInput, "IMG_BLOB_DIGEST_MISMATCH",
        where + " has digest " + actual + " but the image expects " + expected + "; the image is corrupt or was modified");
}

BackgroundDigest::BackgroundDigest(const BlobRange& range, std::string expected, std::string where, std::counting_semaphore<>& turns)
    : m_range(range)
    , m_expected(std::move(expected))
    , m_where(std::move(where))
{
    m_thread = std::thread([this, &turns] {
        while (!turns.try_acquire_for(std::chrono::milliseconds(50)))
            if (m_stop.load(std::memory_order_relaxed))
                return; // destroyed before its turn came
        struct Release {
            std::counting_semaphore<>& turns;
            ~Release() { turns.release(); }
        } release { turns };
        try {
            constexpr std::size_t kReadSize = 1 << 20;
            std::vector<char> buffer(kReadSize);
            Sha256 sha;
            for (std::uint64_t at = 0; at < m_range.size && !m_stop.load(std::memory_order_relaxed);) {
                std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kReadSize, m_range.size - at));
                base::pread_exact(m_range.fd, buffer.data(), n, m_range.offset + at, m_range.name);
                sha.update(buffer.data(), n);
                at += n;
            }
            m_actual = sha.finish();
        } catch (...) {
            m_error = std::current_exception();
        }
    });
}

BackgroundDigest::~BackgroundDigest()
{
    m_stop = true;
    if (m_thread.joinable())
        m_thread.join();
}

void BackgroundDigest::wait_and_check()
{
    if (m_thread.joinable())
        m_thread.join();
    if (m_error)
        std::rethrow_exception(m_error);
    if (m_actual != m_expected)
        throw digest_mismatch(m_where, m_actual, m_expected);
}

} // namespace image
