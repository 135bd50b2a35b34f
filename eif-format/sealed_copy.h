// eif-format/sealed_copy.h — a private, unchangeable copy of a file: its bytes in a memfd sealed
// against writing, shrinking and growing (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
// F_SEAL_SEAL). `enclave start` checks an EIF (CRC, PCRs, signature) and boots it from the same
// sealed copy, so whoever can write the file cannot change it between the check and the boot:
// what is measured is what boots. The copy is page cache (shmem), filled with sendfile, never a
// second copy in the heap.
//
// Usage:
//     base::UniqueFd copy = eif::sealed_copy(fd, size, "app.eif");   // throws base::Error
//     auto reader = eif::EifReader::from_fd(std::move(copy), "app.eif");
#pragma once

#include "base/file.h"

#include <cstdint>
#include <string>

namespace eif {

// The first `size` bytes of `fd` (from offset 0) in a new sealed memfd; throws if the file holds
// fewer, or on any I/O error. `name` is used in messages.
base::UniqueFd sealed_copy(int fd, std::uint64_t size, const std::string& name);

} // namespace eif
