// guest-init/forwarder.cc — the TCP → vsock forwarder process (see the header).
#include "guest-init/forwarder.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "guest-init/console.h"
#include "guest-init/status_protocol.h"
#include "proxy/stream_relay.h"

namespace guest_init {

namespace {

int listen_loopback(std::uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 1024) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

relay::Dialed dial_parent(std::uint32_t port, unsigned attempt)
{
    std::string target = "CID " + std::to_string(kParentCid) + " port " + std::to_string(port);
    if (attempt > 0)
        return relay::Dialed { -1, "", target };
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return relay::Dialed { -1, "cannot create a vsock socket: " + relay::errno_text(errno), target };
    sockaddr_vm address {};
    address.svm_family = AF_VSOCK;
    address.svm_cid = kParentCid;
    address.svm_port = port;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
        int error = errno;
        close(fd);
        return relay::Dialed { -1, "connect to " + target + " failed: " + relay::errno_text(error), target };
    }
    return relay::Dialed { fd, "", target };
}

[[noreturn]] void run(const std::vector<Forward>& forwards, const std::vector<int>& listeners)
{
    // init blocks its signals; the forwarder only needs to ignore SIGPIPE (sends use MSG_NOSIGNAL).
    rlimit files {};
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    relay::StreamRelay relay({ .max_connections = kForwarderMaxConnections, .idle_timeout_ms = 0 },
        [](const std::string& line) { say("init: forwarder: %s", line.c_str()); });
    for (std::size_t i = 0; i < forwards.size(); i++) {
        std::uint32_t vsock_port = forwards[i].vsock_port;
        int error = relay.add_listener(listeners[i], "127.0.0.1:" + std::to_string(forwards[i].tcp_port) + " -> vsock " + std::to_string(vsock_port),
            [vsock_port](unsigned attempt) { return dial_parent(vsock_port, attempt); });
        if (error) {
            say("init: forwarder: cannot watch 127.0.0.1:%u: %s", forwards[i].tcp_port, strerror(error));
            _exit(1);
        }
    }
    for (;;) {
        int error = relay.run_once(-1);
        if (error && error != EINTR) {
            say("init: forwarder: epoll failed: %s; forwarding stopped", strerror(error));
            _exit(1);
        }
    }
}

} // namespace

ForwarderStart start_forwarders(const std::vector<Forward>& forwards)
{
    ForwarderStart out;
    if (forwards.empty())
        return out;
    std::vector<int> listeners;
    for (const Forward& f : forwards) {
        int fd = listen_loopback(f.tcp_port);
        if (fd < 0) {
            for (int l : listeners)
                close(l);
            out.error = -fd;
            out.failed_port = f.tcp_port;
            return out;
        }
        listeners.push_back(fd);
    }
    pid_t pid = fork();
    int fork_error = errno;
    if (pid == 0)
        run(forwards, listeners);
    for (int l : listeners)
        close(l);
    if (pid < 0)
        out.error = fork_error;
    out.pid = pid;
    return out;
}

} // namespace guest_init
