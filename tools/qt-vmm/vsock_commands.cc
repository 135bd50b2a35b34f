// qt-vmm vsock connect | forward: parent programs reaching services inside an enclave through its
// hybrid-vsock socket (the enclave's VsockSocket, Firecracker's "CONNECT <port>" protocol).
//   connect  stdin -> enclave port, enclave port -> stdout (like `socat - VSOCK-CONNECT:cid:port`)
//   forward  a TCP listener on the parent; every TCP client gets its own connection to the port
#include "base/error.h"
#include "tools/qt-vmm/byte_relay.h"
#include "tools/qt-vmm/command.h"
#include "tools/qt-vmm/enclave_socket.h"
#include "vmm/vsock/hybrid_client.h"

#include <csignal>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

constexpr std::size_t kMaxForwardedConnections = 1000;

struct Endpoint {
    int id { -1 };
    std::uint32_t port { 0 };
};

void add_endpoint_options(CLI::App& cmd, Endpoint& e)
{
    qtvmm::add_enclave_id(cmd, e.id, "The enclave")->required();
    cmd.add_option("--port", e.port, "vsock port the enclave listens on")->required()->check(CLI::Range(1u, 0xffffffffu));
}

qtvmm::CommandRegistration connect_reg("vsock connect", "Connect stdin/stdout to a vsock port inside an enclave",
    [](CLI::App& cmd, qtvmm::Cli&) {
        auto e = std::make_shared<Endpoint>();
        add_endpoint_options(cmd, *e);
        qtvmm::set_examples(cmd, {
            "qt-vmm vsock connect --enclave-id 0 --port 5000                 # stdin/stdout to port 5000 inside",
            "echo ping | qt-vmm vsock connect --enclave-id 0 --port 5000",
        });
        cmd.callback([e] {
            std::string socket = qtvmm::enclave_vsock_socket(e->id);
            qtvmm::ByteRelay relay;
            std::string problem;
            relay.add_link(qtvmm::ByteRelay::Side::stdio(), qtvmm::ByteRelay::Side::socket(vmm::vsock::hybrid_connect(socket, e->port, vmm::vsock::SocketMode::NonBlocking)),
                true, [&problem](const std::string& p) { problem = p; });
            while (relay.link_count() > 0)
                relay.poll_once(-1);
            if (!problem.empty())
                throw base::Error(base::ErrorKind::Io, "VSOCK_CONNECT",
                    "enclave " + std::to_string(e->id) + " port " + std::to_string(e->port) + ": " + problem);
        });
    });

// "127.0.0.1:8080", "[::1]:8080", ":8080" (= 127.0.0.1). Port 0 picks a free port.
base::UniqueFd listen_tcp(const std::string& spec, std::string& bound)
{
    std::size_t colon = spec.rfind(':');
    if (colon == std::string::npos)
        throw base::Error(base::ErrorKind::Usage, "BAD_LISTEN", "--listen " + spec + ": expected ADDRESS:PORT, e.g. 127.0.0.1:8080");
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty())
        host = "127.0.0.1";
    addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (port.empty() || ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found)
        throw base::Error(base::ErrorKind::Usage, "BAD_LISTEN",
            "--listen " + spec + ": expected a numeric address and port, e.g. 127.0.0.1:8080 or [::1]:8080");
    base::UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = fd.valid() ? ::bind(fd.get(), found->ai_addr, found->ai_addrlen) : -1;
    ::freeaddrinfo(found);
    if (rc != 0 || ::listen(fd.get(), 128) != 0)
        base::throw_errno("LISTEN", "cannot listen on", spec + " (is the port in use?)");
    sockaddr_storage address {};
    socklen_t length = sizeof address;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
    char name[NI_MAXHOST], service[NI_MAXSERV];
    ::getnameinfo(reinterpret_cast<sockaddr*>(&address), length, name, sizeof name, service, sizeof service, NI_NUMERICHOST | NI_NUMERICSERV);
    bound = (address.ss_family == AF_INET6 ? "[" + std::string(name) + "]" : std::string(name)) + ":" + service;
    return fd;
}

qtvmm::CommandRegistration forward_reg("vsock forward", "Forward a TCP port on the parent to a vsock port inside an enclave",
    [](CLI::App& cmd, qtvmm::Cli& cli) {
        auto e = std::make_shared<Endpoint>();
        auto listen = std::make_shared<std::string>("127.0.0.1:0");
        add_endpoint_options(cmd, *e);
        cmd.add_option("--listen", *listen, "ADDRESS:PORT to listen on (port 0 = any free port)")->capture_default_str();
        qtvmm::set_examples(cmd, {
            "qt-vmm vsock forward --enclave-id 0 --port 5000 --listen 127.0.0.1:8080",
            "qt-vmm vsock forward --enclave-id 0 --port 5000 --listen 127.0.0.1:0   # any free port, printed",
        });
        cmd.callback([e, listen, &cli] {
            std::string socket = qtvmm::enclave_vsock_socket(e->id);
            std::string bound;
            base::UniqueFd listener = listen_tcp(*listen, bound);
            cli.print(qtvmm::Json { { "EnclaveID", e->id }, { "Port", e->port }, { "Listen", bound } });
            cli.info("Forwarding " + bound + " to enclave " + std::to_string(e->id) + " port " + std::to_string(e->port)
                + " until the enclave ends or Ctrl-C");
            std::signal(SIGPIPE, SIG_IGN);
            qtvmm::ByteRelay relay;
            relay.watch(listener.get(), [&] {
                for (;;) {
                    base::UniqueFd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
                    if (!client.valid())
                        return;
                    if (relay.link_count() >= kMaxForwardedConnections) {
                        cli.detail("refused a TCP client: " + std::to_string(kMaxForwardedConnections) + " connections are open");
                        continue;
                    }
                    try {
                        base::UniqueFd vsock = vmm::vsock::hybrid_connect(socket, e->port, vmm::vsock::SocketMode::NonBlocking);
                        relay.add_link(qtvmm::ByteRelay::Side::socket(std::move(client)), qtvmm::ByteRelay::Side::socket(std::move(vsock)),
                            true, [&cli](const std::string& problem) {
                                if (!problem.empty())
                                    cli.detail("a forwarded connection ended: " + problem);
                            });
                    } catch (const base::Error& error) {
                        cli.detail(std::string("refused a TCP client: ") + error.what());
                    }
                }
            });
            // The daemon removes the socket when the enclave ends: then there is nothing to forward to.
            while (::access(socket.c_str(), F_OK) == 0)
                relay.poll_once(1000);
            cli.info("Enclave " + std::to_string(e->id) + " has ended; stopped forwarding");
        });
    });

} // namespace
