// vmm/arch/x86/mptable.h — an Intel MultiProcessor Specification 1.4 table: how a kernel built
// without ACPI (ours) finds its CPUs, the IOAPIC and the routing of ISA interrupts 0–23.
//
// Usage:
//     vmm::x86::write_mp_table(ram, kMpTableAddress, vcpu_count);  // floating pointer + table
#pragma once

#include "vmm/memory/guest_memory.h"

#include <cstdint>
#include <vector>

namespace vmm::x86 {

// The bytes of the floating pointer structure followed by the configuration table, as they are
// placed at `address`. Exposed for unit tests.
std::vector<std::uint8_t> build_mp_table(std::uint64_t address, unsigned vcpu_count);

void write_mp_table(GuestMemory& ram, std::uint64_t address, unsigned vcpu_count);

} // namespace vmm::x86
