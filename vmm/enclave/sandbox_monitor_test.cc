#include "vmm/enclave/sandbox_monitor.h"

#include "vmm/enclave/sandbox_seccomp.h"

#include <csignal>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_CASE("refuse_parent_listener: only sockets of root or a qt-vmm member")
{
    struct stat st {};
    st.st_mode = S_IFSOCK | 0755;
    st.st_uid = 0;
    CHECK_FALSE(vmm::refuse_parent_listener(st));
    st.st_uid = 65534; // nobody: never a member here
    REQUIRE(vmm::refuse_parent_listener(st));
    CHECK(vmm::refuse_parent_listener(st)->find("neither root nor a member of group qt-vmm") != std::string::npos);
    st.st_uid = 0;
    st.st_mode = S_IFLNK | 0777; // lstat of a symlink
    REQUIRE(vmm::refuse_parent_listener(st));
    CHECK(vmm::refuse_parent_listener(st)->find("not a Unix socket") != std::string::npos);
    st.st_mode = S_IFREG | 0644;
    CHECK(vmm::refuse_parent_listener(st));
}

TEST_CASE("MonitorClient: a monitor that is gone makes every request fail quietly")
{
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    ::close(pair[0]);
    vmm::MonitorClient client { base::UniqueFd(pair[1]) };
    CHECK_FALSE(client.connect_parent(7000).valid());
    CHECK_FALSE(client.socket_identity());
    CHECK_FALSE(client.write_record("{}"));
    CHECK_FALSE(client.save_console("text"));
    CHECK_FALSE(client.remove_sockets());
}

TEST_CASE("monitor: a daemon killed by its seccomp filter leaves a daemon-killed record saying so, and no sockets")
{
    char dir_template[] = "/tmp/qt-vmm-monitor-test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template));
    std::string dir = dir_template;
    ::setenv("QT_VMM_RUN_DIR", dir.c_str(), 1);
    vmm::RunDir run_dir = vmm::RunDir::open();
    for (const std::string& path : { run_dir.socket_path(5), run_dir.vsock_path(5) })
        ::close(::open(path.c_str(), O_CREAT | O_WRONLY, 0600)); // stand-ins for the daemon's sockets
    pid_t monitor = ::fork();
    REQUIRE(monitor >= 0);
    if (monitor == 0) {
        std::shared_ptr<vmm::MonitorClient> client = vmm::fork_monitor(run_dir, 5, "", [] {});
        // The daemon: a forbidden call after its filter.
        vmm::install_daemon_filter(std::nullopt);
        ::socket(AF_UNIX, SOCK_STREAM, 0);
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(monitor, &status, 0);
    // After the record the monitor ends its process group (what the daemon left running), itself
    // included: SIGKILL, not SIGSYS (its own filter allows exactly that).
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    std::string record = base::read_file(run_dir.record_path(5), 1 << 16);
    vmm::Json json = vmm::Json::parse(record);
    CHECK(json["Reason"] == "daemon-killed");
    CHECK(json["Detail"].get<std::string>().find("killed by seccomp (SIGSYS)") != std::string::npos);
    CHECK(::access(run_dir.socket_path(5).c_str(), F_OK) != 0);
    CHECK(::access(run_dir.vsock_path(5).c_str(), F_OK) != 0);
    ::unlink(run_dir.record_path(5).c_str());
    ::unsetenv("QT_VMM_RUN_DIR");
    ::rmdir(dir.c_str());
}
