// vmm/enclave/qemu_probe.h — what the QEMU binary of a --accel tcg enclave can do, asked before
// the command line is built: its version (`-version`: QEMU ≥ 9.1 drops root with `-run-with
// user=`, older ones with `-runas`, which QEMU 10 removed) and, only when the enclave has an NSM
// device, whether it has the generic `vhost-user-device` (QEMU ≥ 10 from bookworm-backports).
// Each question is one short run of the binary (≈ 50 ms), its stdout captured, stdin and stderr
// on /dev/null.
//
// Usage:
//     vmm::QemuVersion v = vmm::probe_qemu_version(binary);      // throws QEMU_MISSING, QEMU_VERSION
//     if (!vmm::qemu_has_device(binary, "vhost-user-device")) ...
#pragma once

#include <optional>
#include <string>

namespace vmm {

struct QemuVersion {
    int major { 0 };
    int minor { 0 };
    int micro { 0 };
    bool at_least(int want_major, int want_minor) const { return major > want_major || (major == want_major && minor >= want_minor); }
    std::string text() const { return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro); }
};

// "QEMU emulator version 10.0.2 (Debian ...)" → 10.0.2; nullopt if the text has no version line.
std::optional<QemuVersion> parse_qemu_version(const std::string& version_output);

// Runs `binary -version`. Throws QEMU_MISSING (not found: how to install it) or QEMU_VERSION
// (it ran but printed no version).
QemuVersion probe_qemu_version(const std::string& binary);

// Runs `binary -device NAME,help`: true if QEMU knows the device.
bool qemu_has_device(const std::string& binary, const std::string& device);

} // namespace vmm
