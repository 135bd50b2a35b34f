// vmm/enclave/qemu_probe.h — what the QEMU binary of a --accel tcg enclave can do, asked before
// the command line is built: its version (`-version`: QEMU ≥ 9.1 drops root with `-run-with
// user=`, older ones with `-runas`, which QEMU 10 removed) and, only when the enclave has an NSM
// device, whether `-device vhost-user-device` can be used. That needs the device to be listed by
// `-device help`, i.e. user-creatable: `-device vhost-user-device,help` answers even where it is
// not, and upstream QEMU (Debian's 10.0.2 included) builds it with user_creatable = false ("stop
// inexperienced users confusing themselves"), so QEMU refuses it with "Parameter 'driver' expects
// a pluggable device type". Each question is one short run of the binary (≈ 50 ms), its stdout
// captured, stdin and stderr on /dev/null.
//
// Usage:
//     vmm::QemuVersion v = vmm::probe_qemu_version(binary);      // throws QEMU_MISSING, QEMU_VERSION
//     if (!vmm::qemu_can_create_device(binary, "vhost-user-device")) ...
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

// Runs `binary -version`. Throws QEMU_MISSING (not found: `install` says how to install it, see
// qemu_system()) or QEMU_VERSION (it ran but printed no version).
QemuVersion probe_qemu_version(const std::string& binary, const std::string& install);

// Whether `binary` names an executable file (searched on $PATH when it has no '/'), without
// running it: the launcher's check before it takes anything.
bool qemu_binary_exists(const std::string& binary);
// QEMU_MISSING: "--accel tcg needs BINARY, which was not found; INSTALL".
[[noreturn]] void throw_qemu_missing(const std::string& binary, const std::string& install);

// Whether `-device help` output lists `name "DEVICE"` (the devices -device may create).
bool device_help_lists(const std::string& device_help, const std::string& device);
// Runs `binary -device help`: true if -device DEVICE may be used.
bool qemu_can_create_device(const std::string& binary, const std::string& device);

} // namespace vmm
