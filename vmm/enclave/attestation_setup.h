// vmm/enclave/attestation_setup.h — what `enclave start` prepares for an enclave's security module
// (vmm/nsm/): the PCRs the VMM measured, the module ID, and the key that signs its documents.
//
//   PCR0/1/2  the EIF's measurements (as describe-eif shows them); zeros in --debug-mode, as on Nitro
//   PCR3      SHA384(0^48 ‖ role) with --parent-role ROLE, else zeros
//   PCR4      SHA384(0^48 ‖ id): --parent-id ID, default the contents of /etc/machine-id (zeros
//             if that is missing or empty, e.g. in a container; query's ParentID says so)
//   PCR8      the signing certificate's measurement for a signed EIF, else zeros
//   module_id "<hostname>-enc<EnclaveID>-<16 random hex digits>" (attestation_keys.h): the host
//             and this enclave, told apart from an earlier enclave with the same ID
//   signing   a fresh P-384 leaf issued by the host's root CA (attestation_keys.h) for this
//             enclave; its private key lives only in the daemon's memory. A start by a user
//             who is not root cannot reach the root key: that enclave's module answers
//             Attestation with InternalError, and query says why.
//
// Usage (the launcher, before it forks the daemon):
//     vmm::AttestationInputs in;  in.pcr0 = ...;  in.enclave_id = id;  in.parent_role = role;
//     vmm::EnclaveAttestation a = vmm::prepare_attestation(in);
//     settings.nsm = a.module;  settings.attestation = a.description;
#pragma once

#include "vmm/enclave/run_dir.h"
#include "vmm/nsm/nsm_module.h"

#include <memory>
#include <optional>
#include <string>

namespace vmm {

inline constexpr const char* kMachineIdPath = "/etc/machine-id";

struct AttestationInputs {
    nsm::Digest pcr0 {}, pcr1 {}, pcr2 {};
    std::optional<nsm::Digest> pcr8;          // signed EIFs only
    bool debug_mode { false };
    std::optional<std::string> parent_id;     // --parent-id; unset = /etc/machine-id
    std::optional<std::string> parent_role;   // --parent-role
    int enclave_id { 0 };
    // enclave_module_id(enclave_id, 16 random hex digits), made early by the launcher so the
    // leaf can be issued for it on HostRootLoad's thread; empty = made here.
    std::string module_id;
};

struct EnclaveAttestation {
    std::shared_ptr<nsm::NsmModule> module;
    // For query: {"ModuleID", "ParentID", "ParentRole", "Signing"}.
    Json description;
};

// Throws base::Error: BAD_PARENT_ID / BAD_PARENT_ROLE (empty or longer than 1,024 bytes), or what the host
// root CA's store throws for root (a damaged or unsafe state directory).
EnclaveAttestation prepare_attestation(const AttestationInputs& inputs);

// "<hostname>-enc<id>-<16 random hex digits>": a new module ID for enclave `enclave_id`.
std::string new_module_id(int enclave_id);

// SHA384(0^48 ‖ bytes): a fresh PCR extended once with `bytes` (PCR3, PCR4).
nsm::Digest extend_fresh_pcr(std::string_view bytes);

} // namespace vmm
