// vmm/enclave/daemon_memory.h — how the enclave daemon keeps its own memory (outside guest RAM)
// small: one malloc arena for all its threads, the free parts of its heap given back once the
// start's temporaries are gone, and the read-only file pages it inherited from the launcher (the
// CLI, EIF checks, OpenSSL, every library page `enclave start` touched) unmapped once the guest
// runs, so that only the code the daemon runs afterwards is resident (README "Architecture",
// daemon memory).
//
// Usage (the daemon process, in this order):
//     use_one_malloc_arena();   // in `enclave start`, before the process's first thread
//     ...                       // build and start the VM
//     base::UniqueFd maps = open_own_smaps();  // while /proc is reachable (before the chroot)
//     ...                       // drop root, seccomp, report ready
//     release_free_heap();      // after each burst of temporaries (the start, the ready report)
//     auto code = read_only_file_mappings(maps.get());   // once; close `maps` afterwards
//     drop_file_pages(code);    // when idle: once ready, and again after a burst of requests
//                               // (or FileCodePages, to drop from any thread)
#pragma once

#include "base/file.h"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

namespace vmm {

// glibc gives each thread that allocates its own arena (64 MiB reserved, 60-80 KiB resident
// each in the daemon); the daemon's threads allocate little and rarely at once, so they share
// the main one. Must run before the process makes its first thread (an arena made earlier stays,
// and glibc hands it to later threads), so `enclave start` calls it; the daemon inherits it.
void use_one_malloc_arena();

// Returns the heap's free pages to the kernel (malloc_trim: brk and madvise, both in every
// thread's seccomp list, so any thread may call it at any time).
void release_free_heap();

// An address range [start, end) of this process.
struct MemoryRange {
    std::uintptr_t start { 0 };
    std::uintptr_t end { 0 };
    bool operator==(const MemoryRange&) const = default;
};

// The mappings whose resident pages can be dropped without losing a byte: private, read-only
// (r-xp, r--p) mappings of a file, in 4 KiB pages, that hold no anonymous (copied-on-write)
// page — so never RELRO or other pages written before they were made read-only, never writable,
// shared, hugetlb, device (VM_IO, VM_PFNMAP) or locked mappings. `smaps` is /proc/PID/smaps text.
std::vector<MemoryRange> read_only_file_mappings(std::string_view smaps);

// /proc/self/smaps, opened now to be read later: after the chroot (no /proc) and under seccomp
// (no openat), the open descriptor still reads this process's mappings as they are then.
// Invalid if it cannot be opened (nothing is dropped then).
base::UniqueFd open_own_smaps();
// Reads `smaps_fd` (from open_own_smaps, once: from its start) with plain read() calls, a line at
// a time; empty on an invalid descriptor or a read error (then nothing is dropped).
std::vector<MemoryRange> read_only_file_mappings(int smaps_fd);

// madvise(MADV_DONTNEED) on each range (from read_only_file_mappings, of mappings that stay as
// they are: the binary and the libraries it was linked with): those pages leave this process's
// RSS and stay in the page cache; a later access maps them back (a minor fault, and the kernel
// maps up to 64 KiB around it) with the file's contents. madvise is in every thread's seccomp
// list. Returns the number of ranges the kernel accepted.
std::size_t drop_file_pages(const std::vector<MemoryRange>& ranges);

// Those ranges, shared by the daemon's threads: the main thread sets them once the start is
// reported; whichever thread goes quiet after a burst of work drops them (the control loop; the
// vsock device's loop, VsockConfig::on_quiet, after guest traffic brought code back).
class FileCodePages {
public:
    void set(std::vector<MemoryRange> ranges);
    bool empty() const;
    // drop_file_pages() on the ranges; 0 before set().
    std::size_t drop() const;

private:
    mutable std::mutex m_lock;
    std::vector<MemoryRange> m_ranges;
};

} // namespace vmm
