#include "vmm/enclave/sandbox_monitor.h"

#include "base/error.h"
#include "base/unix_address.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/sandbox_seccomp.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace vmm {

namespace {

enum Op : std::uint32_t { ConnectParent = 1, SocketIdentity = 2, SaveConsole = 3, WriteRecord = 4, RemoveSockets = 5 };
constexpr std::uint32_t kMaxPayload = 64u << 20; // a console ring or a record; far more than either

struct Header {
    std::int32_t status; // request: the op; reply: 0 or an errno
    std::uint32_t length;
};

bool write_full(int fd, const void* data, std::size_t size)
{
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Reads exactly `size` bytes; the first recvmsg may carry one passed fd.
bool read_full(int fd, void* data, std::size_t size, base::UniqueFd* passed = nullptr)
{
    char* p = static_cast<char*>(data);
    while (size > 0) {
        iovec iov { p, size };
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int received;
                std::memcpy(&received, CMSG_DATA(c), sizeof received);
                if (passed)
                    passed->reset(received);
                else
                    ::close(received);
            }
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

bool send_with_fd(int fd, const Header& header, int passed)
{
    iovec iov { const_cast<Header*>(&header), sizeof header };
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] {};
    msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
    for (;;) {
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        return n == static_cast<ssize_t>(sizeof header);
    }
}

bool uid_in_access_group(uid_t uid)
{
    std::optional<gid_t> group = access_group_id();
    if (!group)
        return false;
    // Through the user database even for root: the monitor calls it once before its filter to load NSS.
    passwd entry {};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        return false;
    if (found->pw_gid == *group)
        return true;
    int count = 256;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0)
        return false;
    for (int i = 0; i < count; ++i)
        if (groups[static_cast<std::size_t>(i)] == *group)
            return true;
    return false;
}

class Monitor {
public:
    Monitor(const RunDir& dir, int id, std::string log_path, base::UniqueFd channel, pid_t daemon, std::function<void()> after_daemon)
        : m_dir(dir)
        , m_id(id)
        , m_log_path(std::move(log_path))
        , m_channel(std::move(channel))
        , m_daemon(daemon)
        , m_after_daemon(std::move(after_daemon))
    {
    }

    [[noreturn]] void run()
    {
        for (;;) {
            Header request {};
            if (!read_full(m_channel.get(), &request, sizeof request) || request.length > kMaxPayload)
                break;
            std::string payload(request.length, '\0');
            if (request.length && !read_full(m_channel.get(), payload.data(), payload.size()))
                break;
            if (!serve(static_cast<std::uint32_t>(request.status), payload))
                break;
        }
        m_channel.reset();
        int status = 0;
        while (::waitpid(m_daemon, &status, 0) < 0 && errno == EINTR) {
        }
        if (m_after_daemon)
            m_after_daemon();
        if (WIFSIGNALED(status)) {
            clean_up_after(WTERMSIG(status));
            // The daemon's children (QEMU) outlive it: -runas cleared their parent-death signal,
            // and QEMU does not notice its vhost-user backend is gone. They are in the monitor's
            // process group; so is the monitor, which has nothing left to do.
            if (::getpgrp() == ::getpid())
                ::kill(-::getpid(), SIGKILL);
        } else if (!m_log_path.empty()) {
            ::unlink(m_log_path.c_str());
        }
        ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
    }

private:
    bool reply(int error, const std::string& payload = {}, int fd = -1)
    {
        Header h { error, static_cast<std::uint32_t>(payload.size()) };
        if (fd >= 0)
            return send_with_fd(m_channel.get(), h, fd) && write_full(m_channel.get(), payload.data(), payload.size());
        return write_full(m_channel.get(), &h, sizeof h) && write_full(m_channel.get(), payload.data(), payload.size());
    }

    bool serve(std::uint32_t op, const std::string& payload)
    {
        switch (op) {
        case ConnectParent: {
            std::uint32_t port = 0;
            if (payload.size() != sizeof port)
                return reply(EINVAL);
            std::memcpy(&port, payload.data(), sizeof port);
            int error = 0;
            base::UniqueFd fd = connect_parent(port, error);
            return reply(fd.valid() ? 0 : error, {}, fd.get());
        }
        case SocketIdentity: {
            struct stat st {};
            if (::lstat(m_dir.socket_path(m_id).c_str(), &st) != 0)
                return reply(errno);
            std::uint64_t ids[2] = { st.st_dev, st.st_ino };
            return reply(0, std::string(reinterpret_cast<const char*>(ids), sizeof ids));
        }
        case SaveConsole:
            return reply(write_file(m_dir.console_path(m_id), payload, 0600));
        case WriteRecord: {
            // Only ever a JSON object: whatever the daemon became, it writes nothing else here.
            Json record = Json::parse(payload, nullptr, false);
            if (!record.is_object())
                return reply(EINVAL);
            return reply(write_file(m_dir.record_path(m_id), payload, 0644));
        }
        case RemoveSockets:
            m_dir.remove_reservation(m_id); // before the ID is free again (the socket)
            ::unlink(m_dir.vsock_path(m_id).c_str());
            ::unlink(m_dir.socket_path(m_id).c_str());
            m_sockets_removed = true;
            return reply(0);
        default:
            return reply(EINVAL);
        }
    }

    base::UniqueFd connect_parent(std::uint32_t port, int& error)
    {
        std::string path = m_dir.vsock_path(m_id) + "_" + std::to_string(port);
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            error = errno;
            return {};
        }
        if (std::optional<std::string> why = refuse_parent_listener(st)) {
            std::fprintf(stderr, "qt-vmm monitor: refused the enclave's connection to %s: %s\n", path.c_str(), why->c_str());
            error = EACCES;
            return {};
        }
        sockaddr_un address;
        if (!base::unix_address(path, address)) {
            error = ENAMETOOLONG;
            return {};
        }
        // Non-blocking, as the vsock thread had it: a full backlog gives EAGAIN (RST), never a stall.
        base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            error = errno;
            return {};
        }
        return fd;
    }

    static int write_file(const std::string& path, const std::string& text, unsigned mode)
    {
        try {
            base::AtomicFile file(path, mode);
            file.write(text);
            file.commit();
            return 0;
        } catch (const base::Error& e) {
            std::fprintf(stderr, "qt-vmm monitor: %s\n", e.what());
            return EIO;
        }
    }

    void clean_up_after(int signal)
    {
        if (m_sockets_removed)
            return; // the daemon finished its own work; the ID may already belong to someone else
        std::string how = signal == SIGSYS ? std::string("killed by seccomp (SIGSYS): it made a system call its filter forbids")
                                           : "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
        std::fprintf(stderr, "qt-vmm monitor: the enclave daemon (pid %d) was %s\n", static_cast<int>(m_daemon), how.c_str());
        // The record first: it keeps the EnclaveID taken while the sockets go.
        if (::access(m_dir.record_path(m_id).c_str(), F_OK) != 0) {
            Json record { { "EnclaveID", m_id }, { "State", "TERMINATED" }, { "Reason", "daemon-killed" },
                { "Detail", "the enclave's daemon process was " + how + "; its memory and CPUs were released by the kernel" } };
            write_file(m_dir.record_path(m_id), record.dump(2) + "\n", 0644);
        }
        m_dir.remove_reservation(m_id);
        ::unlink(m_dir.vsock_path(m_id).c_str());
        ::unlink(m_dir.socket_path(m_id).c_str());
    }

    const RunDir& m_dir;
    int m_id;
    std::string m_log_path;
    base::UniqueFd m_channel;
    pid_t m_daemon;
    std::function<void()> m_after_daemon;
    bool m_sockets_removed { false };
};

} // namespace

std::optional<std::string> refuse_parent_listener(const struct stat& st)
{
    if (!S_ISSOCK(st.st_mode))
        return std::string("not a Unix socket (a symlink or another file)");
    if (st.st_uid != 0 && !uid_in_access_group(st.st_uid))
        return "owned by uid " + std::to_string(st.st_uid) + ", who is neither root nor a member of group " + kAccessGroup;
    return std::nullopt;
}

MonitorClient::MonitorClient(base::UniqueFd channel)
    : m_channel(std::move(channel))
{
}

int MonitorClient::call(std::uint32_t op, const std::string& payload, std::string* reply, base::UniqueFd* fd)
{
    std::lock_guard guard(m_lock);
    if (!m_channel.valid())
        return EPIPE;
    Header request { static_cast<std::int32_t>(op), static_cast<std::uint32_t>(payload.size()) };
    Header answer {};
    if (!write_full(m_channel.get(), &request, sizeof request) || !write_full(m_channel.get(), payload.data(), payload.size())
        || !read_full(m_channel.get(), &answer, sizeof answer, fd) || answer.length > kMaxPayload) {
        m_channel.reset();
        return EPIPE;
    }
    std::string text(answer.length, '\0');
    if (answer.length && !read_full(m_channel.get(), text.data(), text.size())) {
        m_channel.reset();
        return EPIPE;
    }
    if (reply)
        *reply = std::move(text);
    return answer.status;
}

base::UniqueFd MonitorClient::connect_parent(std::uint32_t port)
{
    base::UniqueFd fd;
    if (call(ConnectParent, std::string(reinterpret_cast<const char*>(&port), sizeof port), nullptr, &fd) != 0)
        return {};
    return fd;
}

std::optional<std::pair<dev_t, ino_t>> MonitorClient::socket_identity()
{
    std::string reply;
    if (call(SocketIdentity, {}, &reply, nullptr) != 0 || reply.size() != 2 * sizeof(std::uint64_t))
        return std::nullopt;
    std::uint64_t ids[2];
    std::memcpy(ids, reply.data(), sizeof ids);
    return std::make_pair(static_cast<dev_t>(ids[0]), static_cast<ino_t>(ids[1]));
}

bool MonitorClient::save_console(const std::string& text) { return call(SaveConsole, text, nullptr, nullptr) == 0; }
bool MonitorClient::write_record(const std::string& json_text) { return call(WriteRecord, json_text, nullptr, nullptr) == 0; }
bool MonitorClient::remove_sockets() { return call(RemoveSockets, {}, nullptr, nullptr) == 0; }

std::shared_ptr<MonitorClient> fork_monitor(const RunDir& dir, int id, const std::string& log_path, const std::function<void()>& in_monitor,
    std::function<void()> after_daemon)
{
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        base::throw_errno("MONITOR", "cannot create", "the socketpair to the daemon's monitor");
    // A process group of the monitor, the daemon and the daemon's children (QEMU), so that the
    // monitor can end what a killed daemon leaves running.
    ::setpgid(0, 0);
    pid_t daemon = ::fork();
    if (daemon < 0)
        base::throw_errno("MONITOR", "cannot fork", "the enclave daemon from its monitor");
    if (daemon == 0) {
        ::close(pair[0]);
        return std::make_shared<MonitorClient>(base::UniqueFd(pair[1]));
    }
    ::close(pair[1]);
    ::prctl(PR_SET_NAME, "qt-vmm-monitor");
    in_monitor();
    // Load what the user and group lookups need (NSS modules) before the filter forbids it.
    uid_in_access_group(0);
    std::fprintf(stderr, "%s", "");
    try {
        install_monitor_filter();
    } catch (const base::Error& e) {
        std::fprintf(stderr, "qt-vmm monitor: %s; stopping the daemon\n", e.what());
        ::kill(daemon, SIGKILL);
    }
    Monitor(dir, id, log_path, base::UniqueFd(pair[0]), daemon, std::move(after_daemon)).run();
}

} // namespace vmm
