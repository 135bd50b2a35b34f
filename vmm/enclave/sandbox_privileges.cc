#include "vmm/enclave/sandbox_privileges.h"

#include "vmm/enclave/daemon_fd_limit.h"

#include "base/error.h"
#include "base/file.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace vmm {

namespace {

[[noreturn]] void fail(const std::string& what)
{
    base::throw_errno("DROP_PRIVILEGES", "cannot drop root:", what);
}

void set_limit(int resource, rlim_t value, const char* name)
{
    rlimit limit { value, value };
    if (::setrlimit(resource, &limit) != 0)
        fail(std::string("setrlimit ") + name);
}

// An empty directory owned by root that nobody else can write: created if missing, refused
// (never used) if it is anything else.
void check_empty_root()
{
    if (::mkdir(kEmptyRoot, 0555) != 0 && errno != EEXIST)
        fail(std::string("mkdir ") + kEmptyRoot);
    struct stat st {};
    if (::lstat(kEmptyRoot, &st) != 0)
        fail(std::string("lstat ") + kEmptyRoot);
    bool empty = true;
    if (DIR* d = ::opendir(kEmptyRoot)) {
        while (dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
                empty = false;
        ::closedir(d);
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) || !empty)
        throw base::Error(base::ErrorKind::Permission, "DROP_PRIVILEGES",
            std::string(kEmptyRoot) + " must be an empty directory owned by root and writable by nobody else; remove it (qt-vmm recreates it)");
}

} // namespace

DaemonUser lookup_daemon_user()
{
    passwd entry {};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwnam_r(kDaemonUser, &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        throw base::Error(base::ErrorKind::NotFound, "DAEMON_USER",
            std::string("the enclave daemon runs as user ") + kDaemonUser + ", which does not exist; create it with: sudo scripts/install-deps.sh (or: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "
                + kDaemonUser + ")");
    if (found->pw_uid == 0 || found->pw_gid == 0)
        throw base::Error(base::ErrorKind::Permission, "DAEMON_USER",
            std::string("user ") + kDaemonUser + " must not have uid or gid 0; recreate it with useradd --system");
    return DaemonUser { found->pw_uid, found->pw_gid };
}

bool wait_for_uid(pid_t pid, uid_t uid, int timeout_ms)
{
    std::string path = "/proc/" + std::to_string(pid) + "/status";
    for (int waited = 0; waited <= timeout_ms; waited += 2) {
        std::string text;
        try {
            text = base::read_file(path, 16384);
        } catch (const base::Error&) {
            return false; // gone
        }
        std::size_t at = text.find("\nUid:");
        unsigned real = 0, effective = 0;
        if (at != std::string::npos && std::sscanf(text.c_str() + at, "\nUid: %u %u", &real, &effective) == 2
            && real == uid && effective == uid)
            return true;
        ::usleep(2000);
    }
    return false;
}

void enter_daemon_namespaces()
{
    if (::unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS) != 0) {
        std::fprintf(stderr, "qt-vmm daemon: no new namespaces (%s); running in the host's\n", std::strerror(errno));
        return;
    }
    // Nothing the daemon mounts (it mounts nothing) may reach the host, and the reverse.
    ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
}

void drop_privileges(const DaemonUser& user)
{
    check_empty_root();
    set_limit(RLIMIT_NOFILE, kDaemonFileLimit, "RLIMIT_NOFILE"); // daemon_fd_limit.h
    set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
    set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC"); // no new processes or threads for this user
    ::signal(SIGXFSZ, SIG_IGN);
    set_limit(RLIMIT_FSIZE, kDaemonMaxFileBytes, "RLIMIT_FSIZE");

    if (::chdir(kEmptyRoot) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0)
        fail(std::string("chroot ") + kEmptyRoot);

    // While this thread still has CAP_SETPCAP: empty the bounding set, lock the securebits so
    // that uid 0 never means capabilities again.
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap)
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            fail("PR_CAPBSET_DROP");
    if (::prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED
                | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) != 0)
        fail("PR_SET_SECUREBITS");

    // glibc applies these to every thread of the process.
    if (::setgroups(0, nullptr) != 0)
        fail("setgroups");
    if (::setresgid(user.gid, user.gid, user.gid) != 0)
        fail("setresgid");
    if (::setresuid(user.uid, user.uid, user.uid) != 0)
        fail("setresuid");

    // Leaving uid 0 cleared the capabilities of every thread; say so explicitly for this one.
    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[2] {};
    if (::syscall(SYS_capset, &header, data) != 0)
        fail("capset");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail("PR_SET_NO_NEW_PRIVS");
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        fail("PR_SET_DUMPABLE");

    uid_t r, e, s;
    if (::getresuid(&r, &e, &s) != 0 || r != user.uid || e != user.uid || s != user.uid || ::setuid(0) == 0)
        throw base::Error(base::ErrorKind::Internal, "DROP_PRIVILEGES", "the daemon could still become root after dropping it");
}

} // namespace vmm
