// vmm/host/sysfs.h — reading and writing the small sysfs files the host code uses, below a
// configurable root so that tests can point everything at a fake tree.
//
// Usage:
//     std::string root = vmm::host::sysfs_root();                        // "/sys" or $QT_VMM_SYSFS_ROOT
//     auto free = vmm::host::read_sysfs_u64(root + "/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
//     vmm::host::write_sysfs_u64(path, 128);                             // throws naming the path
//
// QT_VMM_SYSFS_ROOT exists for tests (a fake sysfs tree in a temp dir); production leaves it unset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vmm::host {

// $QT_VMM_SYSFS_ROOT when set and non-empty, else "/sys".
std::string sysfs_root();

// Whether the test override is active (the allocator then skips its root check).
bool sysfs_root_overridden();

// The file's text (at most 64 KiB); throws base::Error naming the path.
std::string read_sysfs_text(const std::string& path);
// A decimal number (surrounding whitespace allowed); throws SYSFS_BAD_VALUE on anything else.
std::uint64_t read_sysfs_u64(const std::string& path);
// nullopt when the file does not exist (other failures throw).
std::optional<std::string> try_read_sysfs_text(const std::string& path);
// Writes the number as decimal text; throws base::Error naming the path (EACCES → Permission).
void write_sysfs_u64(const std::string& path, std::uint64_t value);

} // namespace vmm::host
