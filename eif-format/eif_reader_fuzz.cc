// libFuzzer target: an arbitrary byte string as an EIF. Opens it from a memfd with the strict
// reader (and, if that fails, the lenient one without CRC), scans CRC + PCRs, reads every
// section through the chunk API and parses/verifies a signature section. Any crash, hang,
// sanitizer report or unbounded allocation is a bug; base::Error is the expected outcome.
#include "base/error.h"
#include "base/file.h"
#include "eif-format/describe.h"
#include "eif-format/eif_reader.h"
#include "eif-format/signature.h"

#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

namespace {

base::UniqueFd memfd_with(const std::uint8_t* data, std::size_t size)
{
    base::UniqueFd fd(::memfd_create("eif-fuzz", MFD_CLOEXEC));
    if (!fd.valid())
        __builtin_trap();
    base::write_all(fd.get(), data, size, "memfd");
    return fd;
}

void exercise(eif::EifReader& reader)
{
    eif::ScanResult scan = reader.scan();
    (void)scan;
    for (const auto& s : reader.sections()) {
        std::size_t total = 0;
        reader.for_each_chunk(s.index, [&](const std::uint8_t*, std::size_t n) { total += n; }, 4096);
        if (total != s.size)
            __builtin_trap();
    }
    std::string initrd(static_cast<std::size_t>(reader.ramdisks_size()), '\0');
    reader.read_ramdisks(initrd.data(), initrd.size());
    if (auto index = reader.signature_index()) {
        try {
            eif::ParsedSignature sig = eif::parse_signature_section(reader.read_small_section(*index, eif::kMaxSignatureSize));
            eif::verify_signature(sig, scan.pcr0, 0);
            eif::describe_certificate(sig.certificate_pem);
        } catch (const base::Error&) {
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    for (bool strict : { true, false }) {
        try {
            eif::ReadOptions options;
            options.verify_crc = strict;
            options.allow_old_versions = !strict;
            eif::EifReader reader = eif::EifReader::from_fd(memfd_with(data, size), "fuzz", options);
            exercise(reader);
        } catch (const base::Error&) {
        }
    }
    // The signature parser also sees the raw input directly (most inputs fail the EIF checks).
    if (size <= eif::kMaxSignatureSize) {
        try {
            eif::parse_signature_section(std::string_view(reinterpret_cast<const char*>(data), size));
        } catch (const base::Error&) {
        }
    }
    return 0;
}
