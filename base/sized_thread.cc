#include "base/sized_thread.h"

#include "base/error.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <unistd.h>

namespace base {

namespace {

void* run_body(void* arg)
{
    std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
    (*body)(); // an exception escaping ends the process, as with std::thread
    return nullptr;
}

std::size_t whole_pages(std::size_t bytes)
{
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes = std::max<std::size_t>(bytes * kSanitizerStackFactor, PTHREAD_STACK_MIN);
    return (bytes + page - 1) / page * page;
}

} // namespace

SizedThread::SizedThread(std::size_t stack_bytes, std::function<void()> body)
    : m_stack_bytes(whole_pages(stack_bytes))
{
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    int error = ::pthread_attr_setstacksize(&attr, m_stack_bytes);
    if (error == 0)
        error = ::pthread_attr_setguardsize(&attr, static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
    auto owned = std::make_unique<std::function<void()>>(std::move(body));
    if (error == 0)
        error = ::pthread_create(&m_handle, &attr, run_body, owned.get());
    ::pthread_attr_destroy(&attr);
    if (error != 0) {
        errno = error;
        throw_errno("THREAD", "cannot start", "a thread with a " + std::to_string(m_stack_bytes >> 10) + " KiB stack");
    }
    owned.release(); // the thread owns it now
    m_started = true;
}

SizedThread::SizedThread(SizedThread&& other) noexcept
    : m_handle(other.m_handle)
    , m_started(other.m_started)
    , m_stack_bytes(other.m_stack_bytes)
{
    other.m_started = false;
}

SizedThread& SizedThread::operator=(SizedThread&& other) noexcept
{
    if (m_started)
        std::terminate();
    m_handle = other.m_handle;
    m_started = other.m_started;
    m_stack_bytes = other.m_stack_bytes;
    other.m_started = false;
    return *this;
}

SizedThread::~SizedThread()
{
    if (m_started)
        std::terminate();
}

void SizedThread::join()
{
    if (!m_started)
        throw Error(ErrorKind::Internal, "THREAD", "join of a thread that is not running");
    ::pthread_join(m_handle, nullptr);
    m_started = false;
}

} // namespace base
