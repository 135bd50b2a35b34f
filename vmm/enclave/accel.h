// vmm/enclave/accel.h — what executes an enclave: qt-vmm's own KVM VMM or QEMU under TCG
// software emulation (--accel kvm|tcg), and the one place its names are read and written.
//
// Usage:
//     std::optional<vmm::Accel> accel = vmm::parse_accel("tcg");   // nullopt: unknown name
//     info["Accel"] = vmm::accel_name(*accel);                     // "tcg"
#pragma once

#include <optional>
#include <string_view>

namespace vmm {

enum class Accel { Kvm, Tcg };

inline const char* accel_name(Accel accel) { return accel == Accel::Tcg ? "tcg" : "kvm"; }

inline std::optional<Accel> parse_accel(std::string_view name)
{
    if (name == "kvm")
        return Accel::Kvm;
    if (name == "tcg")
        return Accel::Tcg;
    return std::nullopt;
}

} // namespace vmm
