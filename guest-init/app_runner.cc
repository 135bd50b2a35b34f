// guest-init/app_runner.cc — fork/exec of the app and PID 1's supervision loop (see the header).
#include "guest-init/app_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest-init/console.h"

namespace guest_init {

namespace {

constexpr int kForwardedSignals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

struct ChildFailure {
    StartStep step;
    int error;
};

std::vector<char*> c_strings(const std::vector<std::string>& strings)
{
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (const auto& s : strings)
        out.push_back(const_cast<char*>(s.c_str()));
    out.push_back(nullptr);
    return out;
}

[[noreturn]] void child_fail(int pipe_fd, StartStep step)
{
    ChildFailure failure { step, errno };
    (void)!write(pipe_fd, &failure, sizeof failure);
    _exit(127);
}

// In the child: everything here must be async-signal-safe-ish (no allocation).
[[noreturn]] void run_child(const AppLaunch& app, char* const* argv, char* const* envp, const gid_t* groups, size_t group_count, int pipe_fd)
{
    sigset_t none;
    sigemptyset(&none);
    for (int sig : kForwardedSignals)
        signal(sig, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setsid();

    if (setgroups(group_count, groups) != 0)
        child_fail(pipe_fd, StartStep::SetGroups);
    if (setgid(app.user.gid) != 0)
        child_fail(pipe_fd, StartStep::SetGid);
    if (setuid(app.user.uid) != 0)
        child_fail(pipe_fd, StartStep::SetUid);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0)
        child_fail(pipe_fd, StartStep::Stdin);
    if (null_fd != STDIN_FILENO) {
        dup2(null_fd, STDIN_FILENO);
        close(null_fd);
    }
    execve(app.program.c_str(), argv, envp);
    child_fail(pipe_fd, StartStep::Exec);
}

void ignore_signal(int) { }

} // namespace

const char* start_step_name(StartStep step)
{
    switch (step) {
    case StartStep::Pipe:
        return "pipe";
    case StartStep::Fork:
        return "fork";
    case StartStep::SetGroups:
        return "setgroups";
    case StartStep::SetGid:
        return "setgid";
    case StartStep::SetUid:
        return "setuid";
    case StartStep::Stdin:
        return "stdin";
    case StartStep::Exec:
        return "exec";
    }
    return "?";
}

void block_init_signals()
{
    // A handler (never run: the signals stay blocked) makes sure the kernel queues signals sent
    // to PID 1 even if they are ever unblocked; blocked signals are queued regardless.
    struct sigaction action {};
    action.sa_handler = ignore_signal;
    sigemptyset(&action.sa_mask);
    for (int sig : kForwardedSignals)
        sigaction(sig, &action, nullptr);
    action.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &action, nullptr);

    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
}

StartResult start_app(const AppLaunch& app)
{
    StartResult result;
    std::vector<char*> argv = c_strings(app.argv);
    std::vector<char*> envp = c_strings(app.env);
    std::vector<gid_t> groups(app.user.groups.begin(), app.user.groups.end());

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        result.error = errno;
        result.step = StartStep::Pipe;
        return result;
    }
    pid_t pid = fork();
    if (pid < 0) {
        result.error = errno;
        result.step = StartStep::Fork;
        close(fds[0]);
        close(fds[1]);
        return result;
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(app, argv.data(), envp.data(), groups.data(), groups.size(), fds[1]);
    }
    close(fds[1]);
    ChildFailure failure {};
    ssize_t n;
    do {
        n = read(fds[0], &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    result.pid = pid;
    if (n == ssize_t(sizeof failure)) {
        // The child is exiting with 127: reap it so it is not left behind.
        while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) { }
        result.pid = -1;
        result.error = failure.error;
        result.step = failure.step;
    }
    return result;
}

void reap_zombies()
{
    while (waitpid(-1, nullptr, WNOHANG) > 0) { }
}

int supervise_app(pid_t app)
{
    sigset_t wanted;
    sigemptyset(&wanted);
    sigaddset(&wanted, SIGCHLD);
    for (int sig : kForwardedSignals)
        sigaddset(&wanted, sig);

    while (true) {
        // Reap first: a SIGCHLD that arrives after this loop stays pending for sigwaitinfo.
        while (true) {
            int status = 0;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0)
                break;
            if (pid == app)
                return status;
        }
        siginfo_t info;
        int sig = sigwaitinfo(&wanted, &info);
        if (sig < 0 || sig == SIGCHLD)
            continue;
        say("init: forwarding signal %d (%s) to the app", sig, strsignal(sig));
        kill(app, sig);
    }
}

} // namespace guest_init
