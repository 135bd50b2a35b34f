// vmm/enclave/host_root_load.h — the host's attestation root CA (attestation_keys.h) loaded on a
// thread of its own, so that `enclave start` overlaps its directory checks and key parsing with
// the EIF's measurement and the host checks instead of waiting for them.
//
// Usage (the launcher):
//     vmm::HostRootLoad root = vmm::HostRootLoad::start();  // first thing; as root only
//     ... read and measure the EIF, check the host ...
//     vmm::EnclaveAttestation a = vmm::prepare_attestation(inputs, root);  // takes the key
// Nothing changes about the key: it is loaded by the launcher, which wipes its copy before it
// forks the daemon (attestation_setup.cc). An untaken result (a start that failed earlier) is
// wiped too when the HostRootLoad goes. A load error surfaces at take(), where the load used to
// run, so a bad EIF is still reported before an unsafe state directory.
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

private:
    struct Result {
        std::optional<nsm::KeyAndCert> root;
        std::exception_ptr error;
    };
    std::shared_ptr<Result> m_result; // shared with the thread, so a move does not disturb it
    std::thread m_thread;
};

struct AttestationInputs;
struct EnclaveAttestation;

// prepare_attestation (attestation_setup.h) with the root from `host_root`, started earlier.
EnclaveAttestation prepare_attestation(const AttestationInputs& inputs, HostRootLoad& host_root);

} // namespace vmm
