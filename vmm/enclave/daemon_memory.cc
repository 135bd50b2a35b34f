#include "vmm/enclave/daemon_memory.h"

#include <malloc.h>

namespace vmm {

void use_one_malloc_arena()
{
    ::mallopt(M_ARENA_MAX, 1);
}

void release_free_heap()
{
    ::malloc_trim(0);
}

} // namespace vmm
