// vmm/enclave/daemon_memory.h — how the enclave daemon keeps its own memory (outside guest RAM)
// small: one malloc arena for all its threads, and the free parts of its heap given back once the
// start's temporaries are gone (README "Architecture", daemon memory).
//
// Usage (the daemon process, in this order):
//     use_one_malloc_arena();   // in `enclave start`, before the process's first thread
//     ...                       // build and start the VM, report ready
//     release_free_heap();      // after each burst of temporaries (the start, the ready report)
#pragma once

namespace vmm {

// glibc gives each thread that allocates its own arena (64 MiB reserved, 60-80 KiB resident
// each in the daemon); the daemon's threads allocate little and rarely at once, so they share
// the main one. Must run before the process makes its first thread (an arena made earlier stays,
// and glibc hands it to later threads), so `enclave start` calls it; the daemon inherits it.
void use_one_malloc_arena();

// Returns the heap's free pages to the kernel (malloc_trim: brk and madvise, both in every
// thread's seccomp list, so any thread may call it at any time).
void release_free_heap();

} // namespace vmm
