// vmm/nsm/signature_pace.h — how often one enclave's security module may sign: a token bucket
// (a burst of kBurst documents, then one per 1/rate s). A guest that asks for documents in a loop
// gets them at that pace — the module waits before signing (its caller is the device's thread,
// which the guest's driver waits up to 120 s for) — so a flood costs the parent at most
// rate × one ES384 signature (≈ 1.4 ms here) of CPU per second, whatever the guest does. Nitro
// documents no rate; apps ask once per session, so the default never shows in normal use.
//
// Usage:
//     vmm::nsm::SignaturePace pace(50);           // 50 documents per second after a burst of 10
//     pace.wait();                                // before each signature; thread-safe
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

namespace vmm::nsm {

class SignaturePace {
public:
    static constexpr double kBurst = 10;
    using Clock = std::function<std::uint64_t()>;          // monotonic nanoseconds
    using Sleep = std::function<void(std::uint64_t ns)>;

    // `per_second` > 0. Clock and sleep default to CLOCK_MONOTONIC and nanosleep (tests pass fakes).
    explicit SignaturePace(double per_second, Clock clock = {}, Sleep sleep = {});

    // Takes one token, first sleeping until there is one. Returns the nanoseconds it slept.
    std::uint64_t wait();

private:
    double m_per_ns;
    Clock m_clock;
    Sleep m_sleep;
    std::mutex m_lock;
    double m_tokens { kBurst };
    std::uint64_t m_last_ns { 0 };
};

} // namespace vmm::nsm
