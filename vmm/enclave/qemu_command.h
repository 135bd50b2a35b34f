// vmm/enclave/qemu_command.h — the QEMU command line of a software-emulated enclave
// (--accel tcg): for an x86_64 EIF the microvm machine, for an aarch64 EIF the virt machine
// (qemu-system-aarch64 -M virt,gic-version=3, -cpu max; its UART is a PL011, so console=ttyAMA0
// is appended to the command line; the reset that ends the guest is PSCI's); both with no firmware, modern (version 2) virtio-mmio, no PCI, no ACPI and no default devices;
// guest RAM in a shared memfd (vhost-user needs to map it); the virtio-vsock device as QEMU's
// vhost-user-vsock-device on an inherited socket (qt-vmm serves the device model); with an NSM
// device, QEMU's generic vhost-user-device (virtio-id 33, one queue) on a second socket; the UART on
// an inherited socket (debug mode, read-only: nothing is ever written to it) or nowhere; the
// i8042 (x86_64) so that reboot=k (guest-init's end) ends QEMU, with -no-reboot. QEMU's own seccomp
// sandbox is always on (-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
// resourcecontrol=deny: no obsolete calls, no set*uid, no fork/exec, no affinity or scheduler
// changes), and a root daemon has it drop to the daemon user (`-run-with user=` from QEMU 9.1 on,
// `-runas` before: QEMU 10 removed it; then elevateprivileges=allow, because QEMU — 7.2 and 10.0
// alike — applies its filter before that setuid).
//
// Usage:
//     vmm::QemuLaunch q{ .binary = vmm::qemu_system(eif::Arch::Aarch64).binary, .arch = eif::Arch::Aarch64, ... };
//     std::vector<std::string> argv = vmm::qemu_arguments(q);   // argv[0] = binary
#pragma once

#include "eif-format/eif_arch.h"
#include "vmm/enclave/qemu_probe.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmm {

struct QemuLaunch {
    std::string binary { "qemu-system-x86_64" };
    eif::Arch arch { eif::Arch::X86_64 }; // the guest's: microvm or virt
    unsigned vcpus { 1 };
    std::uint64_t memory_mib { 0 };
    std::string kernel_path;
    std::string initrd_path;    // "" = none
    std::string cmdline;
    int vhost_user_fd { -1 };   // inherited, connected to the vsock backend
    int nsm_vhost_user_fd { -1 }; // inherited, connected to the NSM backend; -1 = no NSM device
    int console_fd { -1 };      // inherited, -1 = the UART goes nowhere (production mode)
    std::string run_as;         // drop to USER once QEMU is set up ("" = keep the caller's IDs)
    QemuVersion version { 10, 0, 0 }; // probe_qemu_version(): how to ask for run_as
};

std::vector<std::string> qemu_arguments(const QemuLaunch& launch);

// The QEMU system emulator for a guest architecture, and what to tell the user when it is missing.
struct QemuSystem {
    std::string binary;   // $QT_VMM_QEMU / $QT_VMM_QEMU_AARCH64 if set, else qemu-system-x86_64 / qemu-system-aarch64
    std::string install;  // "install it with scripts/install-deps.sh (Debian: qemu-system-x86) or set QT_VMM_QEMU"
};
QemuSystem qemu_system(eif::Arch arch);

} // namespace vmm
