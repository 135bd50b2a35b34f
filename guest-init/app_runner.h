// guest-init/app_runner.h — starts the app as PID 1's child and supervises it: every zombie is
// reaped, SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 sent to PID 1 are forwarded to the app.
//
//   block_init_signals();                       // first thing in main
//   AppLaunch app { "/usr/bin/python3", argv, env, user };
//   StartResult started = start_app(app);       // in the working directory already
//   if (started.error) fail(...);
//   int wait_status = supervise_app(started.pid);   // returns when the app has ended
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

#include "guest-init/user_spec.h"

namespace guest_init {

struct AppLaunch {
    std::string program;             // what execve gets (resolved through PATH)
    std::vector<std::string> argv;   // argv[0] as the image gave it
    std::vector<std::string> env;
    UserResolution user;
};

// The step of starting the app that failed.
enum class StartStep { Pipe, Fork, SetGroups, SetGid, SetUid, Stdin, Exec };
const char* start_step_name(StartStep step);

struct StartResult {
    pid_t pid = -1;
    int error = 0;                     // errno of the failed step, 0 = the app runs
    StartStep step = StartStep::Exec;  // meaningful when error != 0
};

// Blocks every signal in PID 1 (they are taken with sigwaitinfo in supervise_app).
void block_init_signals();

// Forks; the child unblocks signals, starts a session, takes stdin from /dev/null (stdout and
// stderr stay on the console), drops to the user and execs. A failing step in the child is
// reported back through a close-on-exec pipe, so exec errors reach PID 1.
StartResult start_app(const AppLaunch& app);

// Reaps children and forwards signals until `app` has ended; returns its wait status. Prints
// "init: forwarding signal N to the app" for each forwarded signal.
int supervise_app(pid_t app);

// Reaps whatever has already ended, without waiting.
void reap_zombies();

} // namespace guest_init
