// bench_exec — runs one command for the benchmarks (tools/bench/bench.py) and timestamps it with
// CLOCK_MONOTONIC, the clock the enclave daemon's LaunchMonotonicNs uses:
//
//   t0     read in the child immediately before execve (nothing but execve between the two);
//   byte   with --wait-byte B: when the first byte B arrived on the child's stdout (a pipe), e.g.
//          QEMU's isa-debugcon on port 0x80 forwarding the probe guest's first `out 0x80`;
//   exit   when wait4 returned, with the child's CPU time (user, system) from its rusage.
//
// Usage: bench_exec [--child-stdout FILE] [--wait-byte 0xNN] [--timeout SECONDS] -- COMMAND ARGS...
//
// Prints JSON lines on its own stdout, each flushed at once so a driver can act on them while the
// child still runs (e.g. read its smaps, then kill it):
//   {"event":"started","pid":P,"t0_ns":N}
//   {"event":"byte","t_ns":N,"elapsed_ns":N}                  (only with --wait-byte, once)
//   {"event":"exit","t_ns":N,"elapsed_ns":N,"status":S,"signal":G,"timed_out":false,
//    "user_s":U,"sys_s":Y}
// The child's stdout goes to FILE (default /dev/null) or, with --wait-byte, to a pipe this program
// drains; its stderr is inherited. Exit status: 0 when the child ran (whatever its own status),
// 2 usage, 127 the command could not be executed.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

std::int64_t now_ns()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void usage(const char* why)
{
    std::fprintf(stderr,
        "bench_exec: %s\nusage: bench_exec [--child-stdout FILE] [--wait-byte 0xNN] [--timeout SECONDS] -- COMMAND ARGS...\n", why);
    std::exit(2);
}

struct Shared {
    std::int64_t t0_ns;
};

} // namespace

int main(int argc, char** argv)
{
    std::string child_stdout = "/dev/null";
    int wait_byte = -1;
    double timeout = 0;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (i + 1 >= argc)
            usage(("missing value after " + a).c_str());
        if (a == "--child-stdout") {
            child_stdout = argv[++i];
        } else if (a == "--wait-byte") {
            char* end = nullptr;
            long v = std::strtol(argv[++i], &end, 0);
            if (*end != 0 || v < 0 || v > 255)
                usage("--wait-byte needs a byte value");
            wait_byte = static_cast<int>(v);
        } else if (a == "--timeout") {
            char* end = nullptr;
            timeout = std::strtod(argv[++i], &end);
            if (*end != 0 || timeout < 0)
                usage("--timeout needs seconds");
        } else {
            usage(("unknown option " + a).c_str());
        }
    }
    if (i >= argc)
        usage("no command");
    char** command = argv + i;

    auto* shared = static_cast<Shared*>(::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (shared == MAP_FAILED) {
        std::perror("bench_exec: mmap");
        return 127;
    }
    int out_pipe[2] = { -1, -1 };
    if (wait_byte >= 0 && ::pipe2(out_pipe, O_CLOEXEC) != 0) {
        std::perror("bench_exec: pipe");
        return 127;
    }
    int out_fd = -1;
    if (wait_byte < 0) {
        out_fd = ::open(child_stdout.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            std::fprintf(stderr, "bench_exec: %s: %s\n", child_stdout.c_str(), std::strerror(errno));
            return 127;
        }
    }
    int exec_pipe[2]; // closed by a successful execve; carries errno otherwise
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        std::perror("bench_exec: pipe");
        return 127;
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        std::perror("bench_exec: fork");
        return 127;
    }
    if (pid == 0) {
        ::dup2(wait_byte >= 0 ? out_pipe[1] : out_fd, STDOUT_FILENO);
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0)
            ::dup2(null, STDIN_FILENO);
        ::signal(SIGPIPE, SIG_DFL);
        shared->t0_ns = now_ns();
        ::execvp(command[0], command);
        int e = errno;
        [[maybe_unused]] ssize_t n = ::write(exec_pipe[1], &e, sizeof e);
        ::_exit(127);
    }
    ::close(exec_pipe[1]);
    if (out_fd >= 0)
        ::close(out_fd);
    if (out_pipe[1] >= 0)
        ::close(out_pipe[1]);
    int exec_errno = 0;
    ssize_t got;
    do
        got = ::read(exec_pipe[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (got > 0) {
        ::waitpid(pid, nullptr, 0);
        std::fprintf(stderr, "bench_exec: cannot execute %s: %s\n", command[0], std::strerror(exec_errno));
        return 127;
    }
    const std::int64_t t0 = shared->t0_ns;
    std::printf("{\"event\":\"started\",\"pid\":%d,\"t0_ns\":%lld}\n", pid, static_cast<long long>(t0));
    std::fflush(stdout);

    const std::int64_t deadline = timeout > 0 ? t0 + static_cast<std::int64_t>(timeout * 1e9) : 0;
    bool timed_out = false;
    auto check_deadline = [&] {
        if (deadline && !timed_out && now_ns() >= deadline) {
            timed_out = true;
            ::kill(pid, SIGKILL);
        }
    };

    // Drain the child's stdout, noting the first wait_byte; stop at EOF.
    if (out_pipe[0] >= 0) {
        bool seen = false;
        char buffer[4096];
        for (;;) {
            pollfd p { out_pipe[0], POLLIN, 0 };
            int ready = ::poll(&p, 1, deadline ? 50 : -1);
            check_deadline();
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready <= 0)
                continue;
            ssize_t n = ::read(out_pipe[0], buffer, sizeof buffer);
            std::int64_t t = now_ns();
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (!seen && std::memchr(buffer, wait_byte, static_cast<std::size_t>(n))) {
                seen = true;
                std::printf("{\"event\":\"byte\",\"t_ns\":%lld,\"elapsed_ns\":%lld}\n", static_cast<long long>(t),
                    static_cast<long long>(t - t0));
                std::fflush(stdout);
            }
        }
        ::close(out_pipe[0]);
    }

    int status = 0;
    rusage usage {};
    for (;;) {
        pid_t r = ::wait4(pid, &status, deadline ? WNOHANG : 0, &usage);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            std::perror("bench_exec: wait4");
            return 127;
        }
        if (r == 0) {
            check_deadline();
            ::usleep(2000);
        }
    }
    std::int64_t t = now_ns();
    auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
    std::printf("{\"event\":\"exit\",\"t_ns\":%lld,\"elapsed_ns\":%lld,\"status\":%d,\"signal\":%d,\"timed_out\":%s,"
                "\"user_s\":%.6f,\"sys_s\":%.6f}\n",
        static_cast<long long>(t), static_cast<long long>(t - t0), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        WIFSIGNALED(status) ? WTERMSIG(status) : 0, timed_out ? "true" : "false", seconds(usage.ru_utime),
        seconds(usage.ru_stime));
    std::fflush(stdout);
    return 0;
}
