#include "tools/image/container_cli.h"

#include "base/error.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace image {

namespace {

std::string find_in_path(const std::string& program)
{
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        std::size_t colon = dirs.find(':', start);
        if (colon == std::string::npos)
            colon = dirs.size();
        std::string dir = dirs.substr(start, colon - start);
        start = colon + 1;
        std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return {};
}

struct RunResult {
    int status { -1 };
    std::string error_text; // first line of stderr
};

// Runs argv with stdout into stdout_fd (or /dev/null when -1) and stderr captured.
RunResult run(const std::vector<std::string>& argv, int stdout_fd, const std::string& scratch_near)
{
    TempFile err = TempFile::create_near(scratch_near);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (stdout_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    else
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, err.fd(), 2);
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    RunResult result;
    if (rc != 0) {
        result.error_text = std::string("cannot run ") + argv[0] + ": " + std::strerror(rc);
        return result;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char buffer[4096];
    ssize_t n = ::pread(err.fd(), buffer, sizeof buffer - 1, 0);
    if (n > 0) {
        std::string text(buffer, static_cast<std::size_t>(n));
        // the most telling line: the first non-empty one
        std::size_t begin = text.find_first_not_of(" \n\t");
        text = begin == std::string::npos ? "" : text.substr(begin);
        result.error_text = text.substr(0, text.find('\n'));
    }
    return result;
}

bool daemon_unreachable(const std::string& text)
{
    // Not just "daemon": "Error response from daemon: No such image" means it answered.
    for (const char* sign : { "Cannot connect", "Is the docker daemon running", "docker.sock", "podman.sock", "connection refused" })
        if (text.find(sign) != std::string::npos)
            return true;
    return false;
}

} // namespace

TempFile export_with_container_cli(const std::string& reference, const std::string& scratch_near,
    const std::function<void(const std::string&)>& log)
{
    // The name goes after "--" below; one that still looks like an option is refused outright
    // (no image name starts with '-').
    if (reference.empty() || reference[0] == '-')
        throw base::Error(base::ErrorKind::Usage, "IMG_BAD_REFERENCE",
            "image name '" + reference + "' starts with '-' or is empty; name an image such as app:1.0, or a saved one as docker-archive:FILE");
    std::vector<std::string> problems;
    for (const char* tool : { "docker", "podman" }) {
        std::string exe = find_in_path(tool);
        if (exe.empty()) {
            problems.push_back(std::string(tool) + ": not installed");
            continue;
        }
        log(std::string("Exporting ") + reference + " with `" + tool + " save`...");
        TempFile out = TempFile::create_near(scratch_near);
        RunResult r = run({ exe, "save", "--", reference }, out.fd(), scratch_near);
        if (r.status != 0 && !daemon_unreachable(r.error_text)) {
            // Not in the local store? Pull it, then try again.
            log(std::string("Pulling ") + reference + " with `" + tool + " pull`...");
            RunResult pull = run({ exe, "pull", "--", reference }, -1, scratch_near);
            if (pull.status == 0) {
                if (::ftruncate(out.fd(), 0) != 0)
                    base::throw_errno("IMG_TEMP_FILE", "cannot reset scratch file for", reference);
                r = run({ exe, "save", "--", reference }, out.fd(), scratch_near);
            } else if (!pull.error_text.empty()) {
                r.error_text += "; pull: " + pull.error_text;
            }
        }
        if (r.status == 0) {
            struct stat st {};
            if (::fstat(out.fd(), &st) == 0 && st.st_size > 0)
                return out;
            r.error_text = "`save` wrote nothing";
        }
        if (daemon_unreachable(r.error_text))
            problems.push_back(std::string(tool) + ": the daemon is unreachable (" + r.error_text + ")");
        else
            problems.push_back(std::string(tool) + ": " + (r.error_text.empty() ? "`save` failed" : r.error_text));
    }
    std::string joined;
    for (const auto& p : problems)
        joined += (joined.empty() ? "" : "; ") + p;
    throw base::Error(base::ErrorKind::NotFound, "IMG_NO_CONTAINER_ENGINE",
        "cannot export image '" + reference + "' through a local container engine (" + joined
            + "); no daemon is needed if you pass a saved image instead: --docker-uri docker-archive:FILE (from `docker save`/`podman save`) or oci:DIR[:TAG] / oci-archive:FILE (from `skopeo copy`)");
}

} // namespace image
