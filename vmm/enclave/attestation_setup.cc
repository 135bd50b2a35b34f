// vmm/enclave/attestation_setup.cc — see attestation_setup.h.
#include "vmm/enclave/attestation_setup.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "vmm/enclave/attestation_keys.h"
#include "vmm/enclave/host_root_load.h"
#include "vmm/nsm/attestation_document.h"

#include <ctime>
#include <openssl/crypto.h>
#include <sys/random.h>
#include <unistd.h>

namespace vmm {

namespace {

constexpr std::size_t kMaxParentField = 1024;

std::string random_hex(std::size_t bytes)
{
    std::string raw(bytes, '\0');
    if (::getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
        base::throw_errno("RANDOM", "cannot read", "random bytes for the module ID");
    return base::to_hex(raw.data(), raw.size());
}

std::string checked_field(const std::string& value, const char* option, const char* code)
{
    if (value.empty() || value.size() > kMaxParentField)
        throw base::Error(base::ErrorKind::Usage, code,
            std::string(option) + " must be 1 to 1,024 bytes (it is measured into a PCR); got " + std::to_string(value.size()));
    return value;
}

// The host's /etc/machine-id, or "" when it is missing or empty (containers): PCR4 stays zero then.
std::string machine_id()
{
    std::string text;
    try {
        text = base::read_file(kMachineIdPath, 4096);
    } catch (const base::Error&) {
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

} // namespace

nsm::Digest extend_fresh_pcr(std::string_view bytes)
{
    eif::Sha384 h;
    nsm::Digest zero {};
    h.update(zero.data(), zero.size());
    h.update(bytes.data(), bytes.size());
    return h.finish();
}

std::string new_module_id(int enclave_id)
{
    return enclave_module_id(enclave_id, random_hex(8));
}

EnclaveAttestation prepare_attestation(const AttestationInputs& in)
{
    HostRootLoad in_place;
    return prepare_attestation(in, in_place);
}

EnclaveAttestation prepare_attestation(const AttestationInputs& in, HostRootLoad& host_root)
{
    std::string parent_id = in.parent_id ? checked_field(*in.parent_id, "--parent-id", "BAD_PARENT_ID") : machine_id();
    if (parent_id.size() > kMaxParentField)
        parent_id.clear(); // a machine-id is 32 hex digits; anything else is not one
    std::optional<std::string> role;
    if (in.parent_role)
        role = checked_field(*in.parent_role, "--parent-role", "BAD_PARENT_ROLE");

    nsm::NsmModuleConfig config;
    config.module_id = in.module_id.empty() ? new_module_id(in.enclave_id) : in.module_id;
    if (!in.debug_mode) {
        config.boot_pcrs[0] = in.pcr0;
        config.boot_pcrs[1] = in.pcr1;
        config.boot_pcrs[2] = in.pcr2;
    }
    if (role)
        config.boot_pcrs[3] = extend_fresh_pcr(*role);
    if (!parent_id.empty())
        config.boot_pcrs[4] = extend_fresh_pcr(parent_id);
    if (in.pcr8)
        config.boot_pcrs[8] = *in.pcr8;

    Json description { { "ModuleID", config.module_id },
        { "ParentID", parent_id.empty() ? Json("none: " + std::string(kMachineIdPath) + " is missing or empty and no --parent-id was given, so PCR4 is zeros") : Json(parent_id) },
        { "ParentRole", role ? Json(*role) : Json(nullptr) } };
    if (::geteuid() == 0) {
        // The root's key is wiped, the leaf's lives only in the signer: the daemon forked later
        // keeps no copy of the root's.
        std::shared_ptr<nsm::DocumentSigner> signer = host_root.take_signer(config.module_id);
        config.sign = [signer](const nsm::DocumentFields& fields) { return signer->sign(fields); };
        description["Signing"] = "host root CA (qt-vmm attestation root-cert)";
    } else {
        description["Signing"] = "unavailable: started by uid " + std::to_string(::geteuid())
            + ", and only root can use the host's attestation key (start as root for signed documents)";
    }
    return { std::make_shared<nsm::NsmModule>(std::move(config)), std::move(description) };
}

} // namespace vmm
