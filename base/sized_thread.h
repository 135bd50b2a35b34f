// base/sized_thread.h — a thread like std::thread, but with a stack of a size the caller chooses
// (and a guard page below it), for the long-lived threads of the enclave daemon: std::thread
// takes glibc's default of 8 MiB of address space per thread, far more than any of them uses.
//
// Sizes are chosen against the deepest use measured (README "Architecture", daemon memory); under
// AddressSanitizer each is multiplied by kSanitizerStackFactor, as ASan's redzones and fake
// frames make every frame several times larger.
//
// Usage:
//     base::SizedThread t(128 << 10, [] { loop(); });   // throws base::Error if it cannot start
//     pthread_t handle = t.native_handle();
//     t.join();                                        // as std::thread: join before destruction
#pragma once

#include <cstddef>
#include <functional>
#include <pthread.h>

namespace base {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::size_t kSanitizerStackFactor = 8;
#else
inline constexpr std::size_t kSanitizerStackFactor = 1;
#endif

class SizedThread {
public:
    SizedThread() = default;
    // Starts `body` on a new thread whose stack is `stack_bytes` (rounded up to whole pages, at
    // least PTHREAD_STACK_MIN) times kSanitizerStackFactor, with one guard page.
    SizedThread(std::size_t stack_bytes, std::function<void()> body);
    SizedThread(SizedThread&& other) noexcept;
    SizedThread& operator=(SizedThread&& other) noexcept; // std::terminate if this one is joinable
    SizedThread(const SizedThread&) = delete;
    SizedThread& operator=(const SizedThread&) = delete;
    ~SizedThread(); // std::terminate if still joinable, as std::thread

    bool joinable() const { return m_started; }
    void join();
    pthread_t native_handle() const { return m_handle; }
    // The stack size the thread was given (after rounding and the sanitizer factor).
    std::size_t stack_bytes() const { return m_stack_bytes; }

private:
    pthread_t m_handle {};
    bool m_started { false };
    std::size_t m_stack_bytes { 0 };
};

} // namespace base
