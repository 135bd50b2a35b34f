#include "eif-format/pcr.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "base/sized_thread.h"

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>
#include <vector>

namespace eif {

namespace {

[[noreturn]] void throw_openssl(const char* what)
{
    throw base::Error(base::ErrorKind::Internal, "OPENSSL_FAILED", std::string("OpenSSL ") + what + " failed");
}

const EVP_MD* sha384_md()
{
    static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    if (!md)
        throw_openssl("SHA384 fetch");
    return md;
}

} // namespace

struct Sha384::Ctx {
    EVP_MD_CTX* ctx { EVP_MD_CTX_new() };
    ~Ctx() { EVP_MD_CTX_free(ctx); }
};

Sha384::Sha384()
    : m_ctx(std::make_unique<Ctx>())
{
    if (!m_ctx->ctx || EVP_DigestInit_ex(m_ctx->ctx, sha384_md(), nullptr) != 1)
        throw_openssl("SHA384 init");
}

Sha384::~Sha384() = default;
Sha384::Sha384(Sha384&&) noexcept = default;
Sha384& Sha384::operator=(Sha384&&) noexcept = default;

void Sha384::update(const void* data, std::size_t size)
{
    if (size > 0 && EVP_DigestUpdate(m_ctx->ctx, data, size) != 1)
        throw_openssl("SHA384 update");
}

Sha384 Sha384::fork() const
{
    Sha384 copy;
    if (EVP_MD_CTX_copy_ex(copy.m_ctx->ctx, m_ctx->ctx) != 1)
        throw_openssl("SHA384 copy");
    return copy;
}

Digest Sha384::finish()
{
    Digest out {};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(m_ctx->ctx, out.data(), &len) != 1 || len != kDigestSize)
        throw_openssl("SHA384 final");
    return out;
}

Digest sha384(const void* data, std::size_t size)
{
    Sha384 h;
    h.update(data, size);
    return h.finish();
}

Digest extend(const Digest& pcr, const Digest& data)
{
    Sha384 h;
    h.update(pcr.data(), pcr.size());
    h.update(data.data(), data.size());
    return h.finish();
}

Digest extend_zero(const Digest& data)
{
    return extend(Digest {}, data);
}

std::string to_hex(const Digest& digest)
{
    return base::to_hex(digest.data(), digest.size());
}

Digest pcr_of_file(const std::string& path)
{
    base::UniqueFd fd = base::open_read(path);
    std::vector<std::uint8_t> buffer(1 << 20);
    Sha384 h;
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            base::throw_errno("FILE_READ", "cannot read", path);
        }
        if (n == 0)
            break;
        h.update(buffer.data(), static_cast<std::size_t>(n));
    }
    return extend_zero(h.finish());
}

Digest pcr_of_certificate_pem(const std::string& pem)
{
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio)
        throw_openssl("BIO_new_mem_buf");
    X509* cert = PEM_read_bio_X509(bio, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    BIO_free(bio);
    if (!cert)
        throw base::Error(base::ErrorKind::Crypto, "CERT_BAD_PEM",
            "the signing certificate is not a PEM X.509 certificate; pass the -----BEGIN CERTIFICATE----- file");
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    X509_free(cert);
    if (len <= 0)
        throw_openssl("i2d_X509");
    Digest d = sha384(der, static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return extend_zero(d);
}

// --- ImageMeasurer ---------------------------------------------------------------------------

// A helper thread that runs one SHA-384 update while the caller runs another. Its stack is sized
// (SHA-384 touches a few KiB): `enclave start` forks the daemon after a scan, and glibc keeps an
// ended thread's stack cached in the process, so a default one would follow the daemon (8 MiB).
struct ImageMeasurer::Worker {
    static constexpr std::size_t kStack = 64 << 10;
    std::mutex mutex;
    std::condition_variable cv;
    Sha384* target { nullptr };
    const void* data { nullptr };
    std::size_t size { 0 };
    bool busy { false };
    bool stop { false };
    std::exception_ptr error;
    base::SizedThread thread;

    Worker()
        : thread(kStack, [this] { run(); })
    {
    }
    ~Worker()
    {
        {
            std::lock_guard lock(mutex);
            stop = true;
        }
        cv.notify_all();
        thread.join();
    }
    void run()
    {
        std::unique_lock lock(mutex);
        for (;;) {
            cv.wait(lock, [this] { return busy || stop; });
            if (stop)
                return;
            lock.unlock();
            try {
                target->update(data, size);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            busy = false;
            cv.notify_all();
        }
    }
    void start(Sha384& h, const void* p, std::size_t n)
    {
        {
            std::lock_guard lock(mutex);
            target = &h;
            data = p;
            size = n;
            busy = true;
        }
        cv.notify_all();
    }
    void wait()
    {
        std::unique_lock lock(mutex);
        cv.wait(lock, [this] { return !busy; });
        if (error)
            std::rethrow_exception(std::exchange(error, nullptr));
    }
};

ImageMeasurer::ImageMeasurer() = default;
ImageMeasurer::~ImageMeasurer() = default;

void ImageMeasurer::leave_boot_phase()
{
    if (!m_boot)
        m_boot.emplace(m_all.fork());
}

void ImageMeasurer::begin_section(SectionType type)
{
    switch (type) {
    case SectionType::Kernel:
    case SectionType::Cmdline:
        m_target = Target::Boot;
        break;
    case SectionType::Ramdisk:
        if (!m_seen_ramdisk) {
            m_seen_ramdisk = true;
            m_target = Target::Boot;
        } else {
            leave_boot_phase();
            m_target = Target::App;
        }
        break;
    default:
        m_target = Target::None;
        break;
    }
}

Sha384* ImageMeasurer::second_hash()
{
    // Boot bytes (kernel, cmdline, ramdisk0) go to PCR0's hash and, once PCR1's hash has been
    // forked off, to it as well; application bytes go to PCR0's and PCR2's hashes.
    if (m_target == Target::App)
        return &m_app;
    if (m_target == Target::Boot && m_boot)
        return &*m_boot;
    return nullptr;
}

void ImageMeasurer::update_pcr0(const void* data, std::size_t size)
{
    if (m_target != Target::None)
        m_all.update(data, size);
}

void ImageMeasurer::update_pcr1_or_pcr2(const void* data, std::size_t size)
{
    if (Sha384* second = second_hash())
        second->update(data, size);
}

void ImageMeasurer::update(const void* data, std::size_t size)
{
    if (size == 0 || m_target == Target::None)
        return;
    Sha384* second = second_hash();
    if (!second) {
        m_all.update(data, size);
        return;
    }
    constexpr std::size_t kParallelThreshold = 256 * 1024;
    if (size < kParallelThreshold) {
        m_all.update(data, size);
        second->update(data, size);
        return;
    }
    if (!m_worker)
        m_worker = std::make_unique<Worker>();
    m_worker->start(*second, data, size);
    try {
        m_all.update(data, size);
    } catch (...) {
        m_worker->wait();
        throw;
    }
    m_worker->wait();
}

Measurements ImageMeasurer::finish()
{
    leave_boot_phase();
    m_worker.reset();
    m_pcr0 = extend_zero(m_all.finish());
    Measurements m;
    m.pcr0 = to_hex(m_pcr0);
    m.pcr1 = to_hex(extend_zero(m_boot->finish()));
    m.pcr2 = to_hex(extend_zero(m_app.finish()));
    return m;
}

} // namespace eif
