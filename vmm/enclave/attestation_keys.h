// vmm/enclave/attestation_keys.h — the host's attestation root CA, kept where only root can reach
// its key, and the per-enclave leaves it issues. The enclave daemon signs each enclave's NSM
// documents with a leaf (vmm/nsm/attestation_document.h); verifiers trust the root that
// `qt-vmm attestation root-cert` prints.
//
// Layout, under the state directory (QT_VMM_STATE_DIR, default /var/lib/qt-vmm; checked by
// trusted_dir.h: root-owned, writable by root alone, every ancestor too):
//     attestation/            0755 root   so every user can read the public certificate
//     attestation/root.crt    0644        the root certificate (PEM), a copy of private/root.crt
//     attestation/private/    0700 root
//     private/root.key        0600        the root's P-384 key (PKCS#8 PEM); never leaves here
//     private/root.crt        0644        its certificate, written before the key
//     private/lock                        flock: one process at a time creates or loads the root
// The root is made on first use (CN "qt-vmm root <hostname>", valid from an hour before for 30
// years) and written with
// temp file + fsync + rename, certificate first, so a crash never leaves a key without its
// certificate; under the lock, two first starts at once end with one root. A key file that is a
// symlink, not root's, or readable by others is refused, never replaced.
//
// Usage:
//     vmm::nsm::KeyAndCert root = vmm::load_or_create_host_root();            // root only
//     std::string id = vmm::enclave_module_id(4, "9f86d081884c7d65");
//     vmm::nsm::KeyAndCert leaf = vmm::issue_enclave_leaf(root, id, std::time(nullptr));
//     std::string pem = vmm::host_root_certificate_pem();                     // any user
#pragma once

#include "vmm/nsm/certificates.h"

#include <ctime>
#include <string>
#include <string_view>

namespace vmm {

// <state dir>/attestation.
std::string attestation_dir();

// The host root's key and certificate, created on first use. Root only: any other caller gets
// base::Error ATTESTATION_KEY_ACCESS (Permission). Throws STATE_DIR_UNSAFE or
// ATTESTATION_KEY_UNSAFE (Permission) when the directory or the key file could be someone
// else's, ATTESTATION_KEY_CORRUPT (Crypto) when the key and certificate do not belong together.
nsm::KeyAndCert load_or_create_host_root();
// The same, with the pair as checking it parsed it (for issuing leaves without parsing again).
struct HostRoot {
    nsm::KeyAndCert pem;
    nsm::ParsedKeyAndCert parsed;
};
HostRoot load_or_create_parsed_host_root();

// The root certificate (PEM). As root: load_or_create_host_root(). As anyone else: the public
// attestation/root.crt, if a root-owned file that only root can write (ATTESTATION_NO_ROOT,
// NotFound, until root has made one).
std::string host_root_certificate_pem();

// This host's name as certificates and module IDs use it (gethostname; "localhost" if unset).
std::string host_name();
// "<hostname>-enc<id>-<instance>" (the host name cut so the whole fits 64 bytes, a CN's limit):
// the enclave's NSM module_id and its leaf certificate's CN. `instance` tells apart enclaves that
// reuse an ID on the same host (the launcher passes 16 random hex digits); "" leaves it out.
std::string enclave_module_id(int enclave_id, std::string_view instance);

// A leaf named `module_id` (enclave_module_id) for an enclave started at `start`: valid from start − 60 s (clock skew) to
// start + 1 year, capped by the root's notAfter. Enclaves are not re-keyed while they run, so
// the leaf must outlive any realistic enclave; a verifier checks it at the document's time.
nsm::KeyAndCert issue_enclave_leaf(const nsm::KeyAndCert& root, const std::string& module_id, std::time_t start);
// The same for a leaf key made ahead (nsm::new_p384_key(); HostRootLoad makes it on its thread).
nsm::KeyAndCert issue_enclave_leaf(const nsm::KeyAndCert& root, const std::string& module_id, std::time_t start, eif::PkeyPtr leaf_key);
// The same leaf's certificate alone, from a parsed root, for `leaf_key` (kept by the caller).
eif::X509Ptr issue_enclave_leaf_certificate(const nsm::ParsedKeyAndCert& root, const std::string& module_id, std::time_t start, EVP_PKEY* leaf_key);

} // namespace vmm
