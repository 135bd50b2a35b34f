// vmm/enclave/qemu_probe.cc — see qemu_probe.h.
#include "vmm/enclave/qemu_probe.h"

#include "base/error.h"
#include "base/file.h"

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace vmm {

namespace {

struct Captured {
    int spawn_error { 0 };  // posix_spawnp's error (ENOENT: not found)
    int status { -1 };      // exit status, -1 if killed
    std::string output;     // stdout (first 64 KiB)
};

Captured run_capturing_stdout(const std::vector<std::string>& argv)
{
    Captured result;
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        base::throw_errno("PIPE", "cannot create", "a pipe to ask QEMU");
    base::UniqueFd read_end(pipe_fds[0]);
    base::UniqueFd write_end(pipe_fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    result.spawn_error = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    write_end.reset();
    if (result.spawn_error != 0)
        return result;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (result.output.size() < 65536)
            result.output.append(buffer, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

} // namespace

std::optional<QemuVersion> parse_qemu_version(const std::string& text)
{
    static constexpr const char* kPrefix = "QEMU emulator version ";
    std::size_t at = text.find(kPrefix);
    if (at == std::string::npos)
        return std::nullopt;
    QemuVersion v;
    if (std::sscanf(text.c_str() + at + std::strlen(kPrefix), "%4d.%4d.%4d", &v.major, &v.minor, &v.micro) < 2 || v.major < 0 || v.minor < 0 || v.micro < 0)
        return std::nullopt;
    return v;
}

bool qemu_binary_exists(const std::string& binary)
{
    if (binary.find('/') != std::string::npos)
        return ::access(binary.c_str(), X_OK) == 0;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        std::size_t end = dirs.find(':', start);
        if (end == std::string::npos)
            end = dirs.size();
        std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        if (::access((dir + "/" + binary).c_str(), X_OK) == 0)
            return true;
        start = end + 1;
    }
    return false;
}

void throw_qemu_missing(const std::string& binary, const std::string& install)
{
    throw base::Error(base::ErrorKind::NotFound, "QEMU_MISSING", "--accel tcg needs " + binary + ", which was not found; " + install);
}

QemuVersion probe_qemu_version(const std::string& binary, const std::string& install)
{
    Captured c = run_capturing_stdout({ binary, "-version" });
    if (c.spawn_error == ENOENT)
        throw_qemu_missing(binary, install);
    if (c.spawn_error != 0)
        throw base::Error(base::ErrorKind::Vm, "QEMU_EXEC", "cannot run " + binary + ": " + std::strerror(c.spawn_error));
    std::optional<QemuVersion> version = parse_qemu_version(c.output);
    if (c.status != 0 || !version)
        throw base::Error(base::ErrorKind::Vm, "QEMU_VERSION",
            binary + " -version printed no QEMU version (exit status " + std::to_string(c.status) + "); point QT_VMM_QEMU at qemu-system-x86_64");
    return *version;
}

bool device_help_lists(const std::string& device_help, const std::string& device)
{
    return device_help.find("name \"" + device + "\"") != std::string::npos;
}

bool qemu_can_create_device(const std::string& binary, const std::string& device)
{
    Captured c = run_capturing_stdout({ binary, "-device", "help" });
    return c.spawn_error == 0 && c.status == 0 && device_help_lists(c.output, device);
}

} // namespace vmm
