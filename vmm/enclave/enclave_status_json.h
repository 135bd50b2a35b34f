// vmm/enclave/enclave_status_json.h — the one place where what the back ends report (a typed
// EnclaveVmStatus) and guest-init's exit-status record become the fields of an enclave's JSON
// (`query`, `start`, the TERMINATED record). The back ends return facts; only this file knows
// the field names and their order.
//
// Usage:
//     Json info = { ... the daemon's own fields ... };
//     vmm::add_vm_status(info, vm->report());                  // Accel, timings, VsockDevice, ...
//     info["AppStatus"] = vmm::app_status_json(record);         // once guest-init reported
#pragma once

#include "guest-init/status_protocol.h"
#include "vmm/enclave/enclave_vm.h"
#include "vmm/enclave/run_dir.h"
#include "vmm/nsm/nsm_module.h"

namespace vmm {

// Sets "Accel", "LaunchTimingsMs", "LaunchMonotonicNs"."FirstGuestIo" (KVM), "QemuPID" and
// "HugepageSize"/"NumaNode" as not applicable (TCG), and "VsockDevice". `info` already holds
// the daemon's fields (its "LaunchMonotonicNs" object among them).
void add_vm_status(Json& info, const EnclaveVmStatus& status);

// {"Kind":"exited","ExitCode":3,...} / "killed" / "init-error", each with a "Description".
Json app_status_json(const guest_init::StatusRecord& record);

// The security module's state for query: `description` (attestation_setup.h: ModuleID,
// ParentID, ParentRole, Signing) plus "Requests", "Errors" and "PCRs", each PCR as
// {"Index": 0, "Value": hex, "Locked": true}.
Json attestation_json(const Json& description, const nsm::NsmModule& module);

} // namespace vmm
