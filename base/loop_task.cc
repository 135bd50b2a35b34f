// base/loop_task.cc — see loop_task.h.
#include "base/loop_task.h"

#include <utility>

namespace base {

void LoopTask::open()
{
    std::lock_guard guard(m_lock);
    m_alive = true;
}

void LoopTask::close()
{
    std::lock_guard guard(m_lock);
    m_alive = false;
    m_changed.notify_all();
}

void LoopTask::run_posted()
{
    std::unique_lock lock(m_lock);
    if (!m_task)
        return;
    const std::function<void()>* task = std::exchange(m_task, nullptr);
    lock.unlock();
    std::exception_ptr error;
    try {
        (*task)();
    } catch (...) {
        error = std::current_exception();
    }
    lock.lock();
    m_error = error;
    ++m_done;
    m_changed.notify_all();
}

bool LoopTask::run(const std::function<void()>& task, const std::function<void()>& wake, std::chrono::milliseconds deadline)
{
    auto until = std::chrono::steady_clock::now() + deadline;
    std::unique_lock caller(m_caller_lock, std::defer_lock);
    if (!caller.try_lock_until(until)) // an earlier caller's task still running
        return false;
    std::unique_lock lock(m_lock);
    if (!m_alive)
        return false;
    m_task = &task;
    std::uint64_t done_before = m_done;
    wake();
    // Taken in time, or withdrawn; once taken, it is waited for to the end (it borrows `task`).
    bool taken = m_changed.wait_until(lock, until, [this, &task] { return m_task != &task || !m_alive; });
    if (!taken || m_task == &task) {
        m_task = nullptr; // not taken: the loop is gone or busy past the deadline
        m_changed.notify_all();
        return false;
    }
    m_changed.wait(lock, [this, done_before] { return m_done != done_before; });
    if (std::exception_ptr error = std::exchange(m_error, nullptr))
        std::rethrow_exception(error);
    return true;
}

} // namespace base
