// guest-init/init_main.cc — PID 1 of the enclave. Reads make-img's layout (ramdisk 0: /init,
// /dev; ramdisk 1: /rootfs, /cmd, /env, optional /workdir, /user and /forward), sets the system
// up, sends the boot heartbeat, switches into /rootfs, starts the egress forwarders, runs the app, reports how it ended to the parent
// (status_protocol.h) and ends the VM with reboot (reboot=k: 0xFE to port 0x64). It never
// returns from main and never exits: every failure is a console line + init-error status.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest-init/app_runner.h"
#include "guest-init/console.h"
#include "guest-init/forward_spec.h"
#include "guest-init/forwarder.h"
#include "guest-init/launch_files.h"
#include "guest-init/mount_plan.h"
#include "guest-init/path_lookup.h"
#include "guest-init/status_protocol.h"
#include "guest-init/system_setup.h"
#include "guest-init/user_spec.h"
#include "guest-init/vsock_client.h"

using namespace guest_init;

namespace {

constexpr size_t kMaxLaunchFile = 4 * 1024 * 1024;
constexpr const char* kHostname = "enclave";

[[noreturn]] void end_vm()
{
    drain_console();
    sync();
    reboot(RB_AUTOBOOT);
    // Not reached unless reboot failed; PID 1 must not exit.
    say("init: reboot failed: %s; halting", strerror(errno));
    drain_console();
    while (true)
        pause();
}

void report(const StatusRecord& record)
{
    int error = send_status(record);
    if (error)
        say("init: status not delivered to the parent (vsock CID %u port %u): %s", kParentCid, kStatusPort, strerror(error));
}

// One console line, the init-error status to the parent, the end of the VM.
[[noreturn]] void fail(InitError code, int error, const char* format, ...) __attribute__((format(printf, 3, 4)));
[[noreturn]] void fail(InitError code, int error, const char* format, ...)
{
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    say("init: error: %s", message);
    report(status_init_error(code, error, message));
    end_vm();
}

void run_mount_plan(std::span<const MountStep> plan)
{
    for (const MountStep& step : plan) {
        int error = apply_mount_step(step);
        if (!error)
            continue;
        if (step.required)
            fail(InitError::Internal, error, "cannot set up %s: %s", step.target, strerror(error));
        say("init: warning: cannot set up %s: %s", step.target, strerror(error));
    }
}

// A file that may be missing (then empty); unreadable is an error.
std::string read_optional_file(const char* path, InitError code)
{
    std::string text;
    int error = read_small_file(path, text, kMaxLaunchFile);
    if (error == ENOENT)
        return {};
    if (error)
        fail(code, error, "cannot read %s: %s", path, strerror(error));
    return text;
}

void early_setup()
{
    umask(022);
    block_init_signals();
    // Ctrl-Alt-Del becomes SIGINT to PID 1, which is forwarded to the app.
    reboot(RB_DISABLE_CAD);
    for (const MountStep& step : early_mount_plan())
        apply_mount_step(step); // if /dev cannot be mounted there is no console to complain on
    open_console();

    bool assigned_address = false;
    if (int error = bring_up_loopback(&assigned_address))
        say("init: warning: cannot bring up the loopback interface lo: %s", strerror(error));
    else if (assigned_address)
        say("init: note: lo came up without an address; assigned 127.0.0.1/8");
    if (int error = set_hostname(kHostname))
        say("init: warning: cannot set the hostname: %s", strerror(error));
}

void heartbeat()
{
    HeartbeatResult hb = send_heartbeat();
    if (!hb.ok) {
        say("init: heartbeat to the parent (vsock CID %u port %u) failed after %d tries: %s; continuing without it",
            kParentCid, kHeartbeatPort, hb.attempts, hb.error == EPROTO ? "wrong answer byte" : strerror(hb.error));
    }
}

struct LaunchFiles {
    CmdParse cmd;
    EnvParse env;
    std::string workdir;
    std::string user;
    std::vector<Forward> forwards;
};

LaunchFiles read_launch_files()
{
    LaunchFiles files;
    std::string text;
    int error = read_small_file("/cmd", text, kMaxLaunchFile);
    if (error)
        fail(InitError::CmdMissing, error, "cannot read /cmd (the app's command line): %s", strerror(error));
    files.cmd = parse_cmd(text);
    if (!files.cmd.error.empty())
        fail(files.cmd.code, 0, "%s", files.cmd.error.c_str());

    error = read_small_file("/env", text, kMaxLaunchFile);
    if (error == ENOENT) {
        say("init: note: no /env; the app gets only the default PATH");
        text.clear();
    } else if (error) {
        fail(InitError::EnvUnreadable, error, "cannot read /env (the app's environment): %s", strerror(error));
    }
    files.env = parse_env(text);
    for (size_t line : files.env.ignored_lines)
        say("init: warning: /env line %zu is not KEY=VALUE; ignored", line);

    files.workdir = parse_single_line(read_optional_file("/workdir", InitError::BadWorkdir));
    files.user = parse_single_line(read_optional_file("/user", InitError::BadUser));
    ForwardParse forwards = parse_forwards(read_optional_file("/forward", InitError::BadForward));
    if (!forwards.error.empty())
        fail(InitError::BadForward, 0, "/forward: %s", forwards.error.c_str());
    files.forwards = std::move(forwards.forwards);
    return files;
}

void enter_rootfs()
{
    struct stat st;
    int error = stat("/rootfs", &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (error)
        fail(InitError::RootfsMissing, error, "/rootfs is missing: the image has no root filesystem");
    error = switch_root("/rootfs");
    if (error)
        fail(InitError::Internal, error, "cannot switch into /rootfs: %s", strerror(error));
    run_mount_plan(new_root_mount_plan());
}

UserResolution resolve_image_user(const std::string& spec)
{
    std::string passwd, group;
    read_small_file("/etc/passwd", passwd, kMaxLaunchFile);
    read_small_file("/etc/group", group, kMaxLaunchFile);
    UserResolution user = resolve_user(spec, passwd, group);
    if (!user.error.empty())
        fail(InitError::BadUser, 0, "%s", user.error.c_str());
    return user;
}

void enter_workdir(const std::string& workdir)
{
    std::string dir = workdir.empty() ? "/" : workdir[0] == '/' ? workdir : "/" + workdir;
    if (int error = make_directories(dir, 0755))
        fail(InitError::BadWorkdir, error, "cannot create the working directory %s: %s", dir.c_str(), strerror(error));
    if (chdir(dir.c_str()) != 0)
        fail(InitError::BadWorkdir, errno, "cannot enter the working directory %s: %s", dir.c_str(), strerror(errno));
}

// Before the app starts, so it can connect to 127.0.0.1:TCP_PORT at once.
void start_egress(const std::vector<Forward>& forwards)
{
    ForwarderStart started = start_forwarders(forwards);
    if (started.error && started.failed_port)
        fail(InitError::BadForward, started.error, "the forwarder cannot listen on 127.0.0.1:%u: %s", started.failed_port, strerror(started.error));
    if (started.error)
        fail(InitError::Internal, started.error, "cannot start the forwarder: %s", strerror(started.error));
    for (const Forward& f : forwards)
        say("init: forwarding 127.0.0.1:%u to the parent's vsock port %u", f.tcp_port, f.vsock_port);
}

[[noreturn]] void finish(int wait_status)
{
    StatusRecord record;
    if (WIFSIGNALED(wait_status)) {
        say("app killed by signal %d (%s)", WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)));
        record = status_killed(WTERMSIG(wait_status), WCOREDUMP(wait_status));
    } else {
        say("app exited with status %d", WEXITSTATUS(wait_status));
        record = status_exited(WEXITSTATUS(wait_status));
    }
    reap_zombies();
    report(record);
    end_vm();
}

} // namespace

int main()
{
    if (getpid() != 1) {
        say("init: must run as PID 1 (the enclave's init)");
        return 1;
    }
    early_setup();
    heartbeat();
    LaunchFiles files = read_launch_files();
    enter_rootfs();
    start_egress(files.forwards);

    AppLaunch app;
    app.argv = std::move(files.cmd.argv);
    app.env = std::move(files.env.vars);
    env_set_default(app.env, "PATH", kDefaultPath);
    app.user = resolve_image_user(files.user);
    env_set_default(app.env, "HOME", app.user.home);
    enter_workdir(files.workdir);

    std::string path(*env_lookup(app.env, "PATH"));
    PathLookup found = lookup_program(app.argv[0], path, probe_executable);
    if (found.error == EACCES)
        fail(InitError::ExecFailed, EACCES, "app '%s' found in PATH=%s but not executable", app.argv[0].c_str(), path.c_str());
    if (found.error)
        fail(InitError::AppNotFound, found.error, "app '%s' not found in PATH=%s", app.argv[0].c_str(), path.c_str());
    app.program = found.path;

    StartResult started = start_app(app);
    if (started.error) {
        const char* what = app.program.c_str();
        switch (started.step) {
        case StartStep::Exec:
            if (started.error == ENOENT)
                fail(InitError::AppNotFound, ENOENT, "app '%s' not found (or its interpreter is missing)", what);
            fail(InitError::ExecFailed, started.error, "cannot execute '%s': %s", what, strerror(started.error));
        case StartStep::SetGroups:
        case StartStep::SetGid:
        case StartStep::SetUid:
            fail(InitError::BadUser, started.error, "cannot switch to user %u:%u (%s): %s", app.user.uid, app.user.gid,
                start_step_name(started.step), strerror(started.error));
        default:
            fail(InitError::Internal, started.error, "cannot start the app (%s): %s", start_step_name(started.step), strerror(started.error));
        }
    }
    finish(supervise_app(started.pid));
}
