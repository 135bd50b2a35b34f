// vmm/enclave/host_quirks.h — does this host's KVM need workarounds? Decided by running a tiny
// probe guest (embedded in the binary, see tests/guests/probe) that enters ring 3 and makes a
// system call: on a real VT-x/AMD-V host that works; on a nested, software-assisted KVM (like
// the project's build machines) the syscall lands in the kernel still at CPL 3.
//
// Only when the probe says "broken" does qt-vmm apply its nested-KVM workarounds, all outside
// what the PCRs measure: command-line flags appended after the EIF's (noxsave nofsgsbase nopcid
// noinvpcid clearcpuid=popcnt,smap), CX16, the LAPIC TSC-deadline timer and KVM's PV IPI/unhalt
// bits hidden from CPUID, and
// int3 delivered as #BP when the host's emulator cannot execute it (README: nested-KVM workarounds).
// The result is cached per host boot in <state dir>/host-quirks.json (QT_VMM_STATE_DIR, default
// /var/lib/qt-vmm): written only by root, and read only if the directory and the file pass
// trusted_dir.h's checks (root-owned, writable by root alone), since it relaxes guest protections;
// otherwise the probe runs again.
//
// Usage:
//     vmm::HostQuirks q = vmm::detect_host_quirks();
//     if (q.nested_kvm) ...;  q.user_mode is "ok" or "broken", q.detail the probe's line
#pragma once

#include <string>

namespace vmm {

inline constexpr const char* kDefaultStateDir = "/var/lib/qt-vmm";

struct HostQuirks {
    bool nested_kvm { false };
    std::string user_mode;  // "ok" | "broken"
    std::string detail;     // the probe's verdict line, or why it could not run
    double probe_ms { 0 };
    bool cached { false };
};

// Runs the probe (or reads this boot's cached result). Throws if KVM cannot be used at all.
HostQuirks detect_host_quirks();

// Runs the probe now, without the cache.
HostQuirks run_user_mode_probe();

} // namespace vmm
