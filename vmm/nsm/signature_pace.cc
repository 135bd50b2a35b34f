// vmm/nsm/signature_pace.cc — see signature_pace.h.
#include "vmm/nsm/signature_pace.h"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace vmm::nsm {

namespace {

std::uint64_t monotonic_ns()
{
    timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(now.tv_nsec);
}

void sleep_ns(std::uint64_t ns)
{
    timespec t { static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull) };
    while (nanosleep(&t, &t) != 0) {
    }
}

} // namespace

SignaturePace::SignaturePace(double per_second, Clock clock, Sleep sleep)
    : m_per_ns(per_second / 1e9)
    , m_clock(clock ? std::move(clock) : Clock(monotonic_ns))
    , m_sleep(sleep ? std::move(sleep) : Sleep(sleep_ns))
{
    m_last_ns = m_clock();
}

std::uint64_t SignaturePace::wait()
{
    std::uint64_t wait_ns = 0;
    {
        std::lock_guard guard(m_lock);
        std::uint64_t now = m_clock();
        m_tokens = std::min(kBurst, m_tokens + static_cast<double>(now - m_last_ns) * m_per_ns);
        m_last_ns = now;
        m_tokens -= 1; // this caller's token, reserved now: later callers queue behind it
        if (m_tokens < 0)
            wait_ns = static_cast<std::uint64_t>(std::ceil(-m_tokens / m_per_ns));
    }
    if (wait_ns)
        m_sleep(wait_ns);
    return wait_ns;
}

} // namespace vmm::nsm
