// base/loop_task.h — runs a task on another thread's event loop, between two of its rounds, and
// waits for it: how the enclave daemon has a device's loop thread install its own seccomp list
// (VsockCore, the NSM device). One caller at a time; the caller's task is borrowed, not copied,
// so a task that was taken is always waited for to its end.
//
// Usage (the loop's owner):
//     base::LoopTask m_tasks;
//     start():  m_tasks.open();  then start the thread
//     loop():   while (!stopping) { m_tasks.run_posted(); run_once(-1); }  m_tasks.close();
//     run_in_loop_thread(task):  return m_tasks.run(task, [this] { wake(); }, deadline);
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>

namespace base {

class LoopTask {
public:
    // The loop is about to run: tasks may be posted (before the thread starts).
    void open();
    // On the loop thread as it ends: a task posted now or not taken yet is not run.
    void close();
    // On the loop thread, between rounds: runs the posted task, if any.
    void run_posted();
    // Any other thread: posts `task`, calls `wake` so the loop comes round, and waits. False,
    // having run nothing, if the loop is not running or did not take the task within `deadline`
    // (an earlier caller's task still running counts). An exception from `task` is rethrown here.
    bool run(const std::function<void()>& task, const std::function<void()>& wake, std::chrono::milliseconds deadline);

private:
    std::timed_mutex m_caller_lock;
    std::mutex m_lock;
    std::condition_variable m_changed;
    const std::function<void()>* m_task { nullptr }; // posted, not yet taken
    std::uint64_t m_done { 0 };
    std::exception_ptr m_error;
    bool m_alive { false };
};

} // namespace base
