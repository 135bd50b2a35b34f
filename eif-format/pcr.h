// eif-format/pcr.h — SHA-384 measurements of an EIF (PCR0, PCR1, PCR2, PCR8) exactly as AWS Nitro
// defines them, computed while streaming (never from a whole file in memory).
//
//     PCR0 = H(Z ‖ H(kernel ‖ cmdline ‖ ramdisk0 ‖ ramdisk1 ‖ …))   Z = 48 zero bytes
//     PCR1 = H(Z ‖ H(kernel ‖ cmdline ‖ ramdisk0))
//     PCR2 = H(Z ‖ H(ramdisk1 ‖ ramdisk2 ‖ …))
//     PCR8 = H(Z ‖ H(DER(signing certificate)))                     only for signed images
// Metadata and signature sections and all section headers are not measured.
//
// Usage:
//     eif::ImageMeasurer m;                         // feeds sections in file order
//     m.begin_section(eif::SectionType::Kernel);
//     m.update(chunk, n);                           // any number of chunks
//     eif::Measurements pcrs = m.finish();          // lower-case hex strings
//
//     std::string pcr = eif::to_hex(eif::extend_zero(eif::sha384(data, n)));   // `pcr --input`
#pragma once

#include "eif-format/eif_layout.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace eif {

inline constexpr std::size_t kDigestSize = 48;
using Digest = std::array<std::uint8_t, kDigestSize>;

// Streaming SHA-384 (OpenSSL EVP). Copyable state via fork().
class Sha384 {
public:
    Sha384();
    ~Sha384();
    Sha384(Sha384&&) noexcept;
    Sha384& operator=(Sha384&&) noexcept;
    Sha384(const Sha384&) = delete;
    Sha384& operator=(const Sha384&) = delete;

    void update(const void* data, std::size_t size);
    // A new hasher in the same state (so a prefix is hashed once for two digests).
    Sha384 fork() const;
    Digest finish();

private:
    struct Ctx;
    std::unique_ptr<Ctx> m_ctx;
};

Digest sha384(const void* data, std::size_t size);
// TPM-style extend: H(pcr ‖ data).
Digest extend(const Digest& pcr, const Digest& data);
// extend(48 zero bytes, data): the value of a fresh PCR after one extend.
Digest extend_zero(const Digest& data);
std::string to_hex(const Digest& digest);

// `pcr --input FILE`: extend_zero(H(file bytes)), streamed in 1 MiB chunks.
Digest pcr_of_file(const std::string& path);
// PCR8 of a PEM certificate: extend_zero(H(DER)). Throws base::Error (Crypto) on bad PEM.
Digest pcr_of_certificate_pem(const std::string& pem);

// Lower-case hex PCRs; pcr8 only for signed images.
struct Measurements {
    std::string pcr0, pcr1, pcr2;
    std::optional<std::string> pcr8;
};

// Accumulates PCR0/1/2 over sections fed in file order. The kernel/cmdline/first-ramdisk
// prefix is hashed once (PCR1 is a fork of PCR0's state); the application ramdisks are hashed
// for PCR0 and PCR2 on two threads so a large image costs about one SHA-384 pass.
class ImageMeasurer {
public:
    ImageMeasurer();
    ~ImageMeasurer();
    ImageMeasurer(const ImageMeasurer&) = delete;
    ImageMeasurer& operator=(const ImageMeasurer&) = delete;

    // Starts the next section (file order); metadata/signature/unknown types are ignored.
    void begin_section(SectionType type);
    void update(const void* data, std::size_t size);
    // update() in two halves that touch disjoint state, for a caller that runs them on two
    // threads itself (eif::StreamingWriter's pipeline): each must see every byte of a section,
    // and begin_section()/finish() only when both have caught up.
    void update_pcr0(const void* data, std::size_t size);
    void update_pcr1_or_pcr2(const void* data, std::size_t size);
    // PCR0/1/2 (pcr8 left empty). Call once.
    Measurements finish();
    // The raw PCR0 (valid after finish()), which a signature signs.
    const Digest& pcr0() const { return m_pcr0; }

private:
    enum class Target { None, Boot, App };
    void leave_boot_phase();
    Sha384* second_hash(); // PCR1's or PCR2's hash for the current section, if it has one

    Target m_target { Target::None };
    bool m_seen_ramdisk { false };
    Sha384 m_all;                 // PCR0 content
    std::optional<Sha384> m_boot; // PCR1 content, forked from m_all at the first app ramdisk
    Sha384 m_app;                 // PCR2 content
    Digest m_pcr0 {};
    struct Worker;
    std::unique_ptr<Worker> m_worker;
};

} // namespace eif
