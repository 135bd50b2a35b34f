#include "vmm/enclave/enclave_lifecycle.h"

#include "base/error.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace vmm {

std::string utc_now()
{
    std::time_t now = std::time(nullptr);
    std::tm tm {};
    ::gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

std::uint64_t monotonic_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::string seconds_text(double seconds)
{
    char text[32];
    std::snprintf(text, sizeof text, "%g s", seconds);
    return text;
}

base::UniqueFd arm_heartbeat_timer(double seconds)
{
    base::UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    auto ns = static_cast<std::uint64_t>(seconds * 1e9);
    itimerspec when {};
    when.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    when.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (!timer.valid() || ::timerfd_settime(timer.get(), 0, &when, nullptr) != 0)
        base::throw_errno("HEARTBEAT_TIMER", "cannot arm", "the heartbeat timer");
    return timer;
}

SocketWatchdog::SocketWatchdog(std::string path, Identify identify)
    : m_path(std::move(path))
    , m_identify(std::move(identify))
{
    if (!m_identify)
        m_identify = [](const std::string& p) -> std::optional<std::pair<dev_t, ino_t>> {
            struct stat st {};
            if (::stat(p.c_str(), &st) != 0)
                return std::nullopt;
            return std::make_pair(st.st_dev, st.st_ino);
        };
    if (auto bound = m_identify(m_path)) {
        m_dev = bound->first;
        m_ino = bound->second;
    }
    m_timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec every {};
    every.it_value.tv_sec = every.it_interval.tv_sec = 2;
    ::timerfd_settime(m_timer.get(), 0, &every, nullptr);
}

std::optional<std::string> SocketWatchdog::check()
{
    std::uint64_t ticks;
    [[maybe_unused]] ssize_t r = ::read(m_timer.get(), &ticks, sizeof ticks);
    auto now = m_identify(m_path);
    if (now && now->first == m_dev && now->second == m_ino)
        return std::nullopt;
    m_timer.reset();
    return "its control socket " + m_path + " was removed, so nobody could stop it any more";
}

Json exit_record(Json description, const ExitInfo& exit, bool stopped_for_no_heartbeat, const std::string& end_time)
{
    description["State"] = "TERMINATED";
    description["Reason"] = stopped_for_no_heartbeat ? "no-heartbeat" : exit_kind_name(exit.kind);
    description["Detail"] = exit.detail;
    description["EndTime"] = end_time;
    return description;
}

} // namespace vmm
