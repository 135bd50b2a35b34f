// vmm/nsm/nsm_module.h — the Nitro Secure Module as a device model without a transport: one CBOR
// request in, one CBOR response out, exactly as nitro-enclaves.md §5.2 (DescribeNSM, DescribePCR,
// ExtendPCR, LockPCR, LockPCRs, Attestation, GetRandom; {"Error": name} for every failure). The
// virtio-mmio device (vmm/virtio/nsm_device.h, KVM) and the vhost-user backend (--accel tcg)
// both carry requests to handle(); neither knows CBOR.
//
// PCRs (§5.3): 32 SHA-384 registers; 0..15 hold the values the VMM measured and are locked from
// boot; 16..31 start at zero and may be extended (new = SHA384(old ‖ data)) and locked by the app.
//
// Threads: handle() and pcrs() may be called from any thread (one internal lock; an Attestation
// signs outside it, over a snapshot of the locked PCRs, which cannot change any more).
// Wire details, decisions and limits: vmm/nsm/README.md.
//
// Usage:
//     vmm::nsm::NsmModuleConfig c;  c.module_id = "qt-myhost-enc4";
//     c.boot_pcrs[0] = pcr0;  c.boot_pcrs[4] = pcr4;  c.sign = [&](auto& f) { return signer.sign(f); };
//     vmm::nsm::NsmModule nsm(std::move(c));
//     std::string response = nsm.handle(request_bytes);   // never throws
#pragma once

#include "vmm/nsm/nsm_types.h"
#include "vmm/nsm/pcr_bank.h"

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace vmm::nsm {

struct NsmModuleConfig {
    std::string module_id;                            // DescribeNSM and documents
    std::array<Digest, kPcrsLockedAtBoot> boot_pcrs {}; // PCR0..15 at boot (zeros where unused)
    SignDocument sign;                                 // empty: Attestation answers InternalError
    std::function<std::uint64_t()> now_ms;             // empty: CLOCK_REALTIME in milliseconds
    // Documents signed per second after a burst of 10 (signature_pace.h); a flood waits.
    double signatures_per_second { 50 };
    std::function<void(std::uint64_t ns)> pace_sleep;  // empty: nanosleep (tests pass a fake)
    std::function<std::uint64_t()> pace_clock;         // empty: CLOCK_MONOTONIC in nanoseconds
};

class NsmModule {
public:
    explicit NsmModule(NsmModuleConfig config);
    ~NsmModule();
    NsmModule(const NsmModule&) = delete;
    NsmModule& operator=(const NsmModule&) = delete;

    // Answers one request (≤ kMaxRequestSize bytes of CBOR) with its response (≤ kMaxResponseSize
    // bytes of CBOR). Malformed or oversized input gets {"Error": "InvalidArgument"} (or the
    // fitting name); never throws, never aborts.
    std::string handle(std::string_view request) noexcept;
    // Every PCR, 0..31 (a consistent snapshot).
    std::vector<PcrState> pcrs() const;
    // How many requests were answered, and how many with an error (query, tests).
    std::uint64_t requests() const;
    std::uint64_t errors() const;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

} // namespace vmm::nsm
