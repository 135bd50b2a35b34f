// vmm/enclave/host_root_load.h — the host's attestation root CA (attestation_keys.h) loaded, and
// the enclave's leaf key generated, on a thread of their own, so that `enclave start` overlaps
// the directory checks, key parsing and P-384 key generation with the EIF's measurement and the
// host checks instead of waiting for them.
//
// Usage (the launcher):
//     vmm::HostRootLoad root = vmm::HostRootLoad::start();  // first thing; as root only
//     ... read and measure the EIF, check the host ...
//     vmm::EnclaveAttestation a = vmm::prepare_attestation(inputs, root);  // takes root and key
// Nothing changes about the keys: the launcher loads the root and makes the leaf, wipes its root
// copy before it forks the daemon, and the leaf's key reaches only the daemon (attestation_setup.cc).
// An untaken result (a start that failed earlier) is wiped too when the HostRootLoad goes. A load
// error surfaces at take(), where the load used to run, so a bad EIF is still reported before
// an unsafe state directory.
#pragma once

#include "vmm/nsm/certificates.h"

#include <exception>
#include <memory>
#include <optional>
#include <thread>

namespace vmm {

class HostRootLoad {
public:
    HostRootLoad() = default;             // nothing started: take() loads in place
    static HostRootLoad start();          // root: loads on a thread; anyone else: nothing started
    HostRootLoad(HostRootLoad&&) = default;
    HostRootLoad& operator=(HostRootLoad&&) = delete;
    ~HostRootLoad();                      // joins the thread; wipes a key nobody took

    // The root's key and certificate (load_or_create_host_root()); throws what it throws. The
    // thread has been joined when it returns: the launcher forks only single-threaded.
    nsm::KeyAndCert take();
    // After take(): the fresh P-384 key made on the thread (made now if there was none).
    eif::PkeyPtr take_leaf_key();

private:
    struct Result {
        std::optional<nsm::KeyAndCert> root;
        eif::PkeyPtr leaf_key; // EVP_PKEY_free clears its private part
        std::exception_ptr error;
    };
    std::shared_ptr<Result> m_result; // shared with the thread, so a move does not disturb it
    std::thread m_thread;
    eif::PkeyPtr m_leaf_key;          // take() moves it here from the thread's result
};

struct AttestationInputs;
struct EnclaveAttestation;

// prepare_attestation (attestation_setup.h) with the root and leaf key from `host_root`, started earlier.
EnclaveAttestation prepare_attestation(const AttestationInputs& inputs, HostRootLoad& host_root);

} // namespace vmm
