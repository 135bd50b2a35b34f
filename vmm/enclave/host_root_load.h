// vmm/enclave/host_root_load.h — the enclave's attestation signer made on a thread of its own:
// the host's root CA loaded (attestation_keys.h), a fresh P-384 leaf key generated and, once the
// launcher knows the enclave's module ID, the leaf issued and its DocumentSigner built, so that
// `enclave start` overlaps the key parsing, key generation and certificate signing with the EIF's
// measurement, the host checks and the reservation instead of waiting for them.
//
// Usage (the launcher):
//     vmm::HostRootLoad root = vmm::HostRootLoad::start();  // first thing; as root only
//     ... read and measure the EIF, check the host, take the lock and the enclave ID ...
//     root.issue_leaf_for(module_id);                        // as soon as the ID is known
//     ... the reservation ...
//     vmm::EnclaveAttestation a = vmm::prepare_attestation(inputs, root);  // take_signer()
// Nothing changes about the keys: the launcher loads the root and makes the leaf, wipes its root
// copy before it forks the daemon, and the leaf's key reaches only the daemon, inside the signer
// (attestation_setup.cc). An untaken result (a start that failed earlier) is wiped too when the
// HostRootLoad goes. A load error surfaces at take() / take_signer(), where the load used to
// run, so a bad EIF is still reported before an unsafe state directory.
#pragma once

#include "vmm/enclave/attestation_keys.h"
#include "vmm/nsm/attestation_document.h"

#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace vmm {

class HostRootLoad {
public:
    HostRootLoad() = default;             // nothing started: take() / take_signer() work in place
    static HostRootLoad start();          // root: loads on a thread; anyone else: nothing started
    HostRootLoad(HostRootLoad&&) = default;
    HostRootLoad& operator=(HostRootLoad&&) = delete;
    ~HostRootLoad();                      // tells the thread to stop, joins it, wipes what nobody took

    // The thread goes on to issue the leaf for `module_id` and build its signer. Once, before
    // take_signer() with the same ID; a no-op when nothing was started.
    void issue_leaf_for(const std::string& module_id);
    // The leaf's DocumentSigner (chain: the root's certificate), the root's key wiped. Throws what
    // load_or_create_host_root() throws. The thread has been joined when it returns: the launcher
    // forks only single-threaded.
    std::shared_ptr<nsm::DocumentSigner> take_signer(const std::string& module_id);

    // Without issue_leaf_for: the root's key and certificate; throws what loading throws.
    nsm::KeyAndCert take();
    // After take(): the fresh P-384 key made on the thread (made now if there was none).
    eif::PkeyPtr take_leaf_key();

private:
    struct Result {
        std::optional<HostRoot> root;
        eif::PkeyPtr leaf_key; // EVP_PKEY_free clears its private part
        std::shared_ptr<nsm::DocumentSigner> signer;
        std::string signer_for; // the module ID the signer was issued for
        std::exception_ptr error;
    };
    // Tells the thread what to do after loading: issue for a module ID, or (nullopt) nothing more.
    void order(std::optional<std::string> module_id);
    void join();

    std::shared_ptr<Result> m_result; // shared with the thread, so a move does not disturb it
    std::promise<std::optional<std::string>> m_order;
    bool m_ordered { false };
    std::thread m_thread;
    eif::PkeyPtr m_leaf_key;          // take() moves it here from the thread's result
};

// A leaf for `module_id` signed by `root`, as a DocumentSigner whose chain is the root's
// certificate; the leaf's key goes into the signer as an object, never as PEM text. What the
// thread does, and take_signer() in place.
std::shared_ptr<nsm::DocumentSigner> make_enclave_signer(const HostRoot& root, const std::string& module_id, eif::PkeyPtr leaf_key);

struct AttestationInputs;
struct EnclaveAttestation;

// prepare_attestation (attestation_setup.h) with the signer from `host_root`, started earlier.
EnclaveAttestation prepare_attestation(const AttestationInputs& inputs, HostRootLoad& host_root);

} // namespace vmm
