// tests/tools/nsm_vhost_user_stub.cc — the NSM device for tests/integration/vhost_user_qemu.sh:
// serves vhost_user::VhostUserNsmBackend (what --accel tcg enclaves get) to one QEMU
// `-device vhost-user-device,virtio-id=33,...` on a Unix socket, with a stand-in handler that
// answers every request with the fixed CBOR {"Error": "InvalidOperation"} (the real NsmModule
// is not part of this test). Logs on stdout, one line each: "NSM DRIVER_OK" once the guest's
// driver started the ring, "NSM request N bytes: <first 32 bytes in hex>" per request, and at
// the end "NSM end requests=N driver_ok=0|1 error=<reason or empty>". Exits 0 when QEMU
// disconnects cleanly, 4 if the connection failed. A connection that closes before its first
// message (a liveness probe) is not taken for QEMU.
//
//   nsm_vhost_user_stub /tmp/nsm.sock &
//   qemu-system-x86_64 ... -chardev socket,id=nsm0,path=/tmp/nsm.sock
//       -device vhost-user-device,chardev=nsm0,virtio-id=33,num_vqs=1,config_size=0
#include "base/error.h"
#include "vmm/vhost_user/nsm_backend.h"
#include "vmm/vhost_user/unix_socket.h"

#include <cstdio>
#include <mutex>
#include <poll.h>
#include <string>

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: nsm_vhost_user_stub SOCKET_PATH\n");
        return 2;
    }
    static const std::string kResponse = "\xa1\x65" "Error" "\x70" "InvalidOperation";
    try {
        base::UniqueFd listener = vmm::vhost_user::listen_unix(argv[1]);
        std::mutex out_lock;
        auto handler = [&](std::string_view request) {
            static const char hex[] = "0123456789abcdef";
            std::string shown;
            for (std::size_t i = 0; i < request.size() && i < 32; ++i) {
                shown += hex[static_cast<unsigned char>(request[i]) >> 4];
                shown += hex[static_cast<unsigned char>(request[i]) & 15];
            }
            std::lock_guard guard(out_lock);
            std::printf("NSM request %zu bytes: %s\n", request.size(), shown.c_str());
            std::fflush(stdout);
            return kResponse;
        };
        std::unique_ptr<vmm::vhost_user::VhostUserNsmBackend> backend;
        for (;;) {
            base::UniqueFd conn;
            while (!conn.valid())
                conn = vmm::vhost_user::accept_unix(listener.get(), -1);
            backend = vmm::vhost_user::VhostUserNsmBackend::create(std::move(conn), handler);
            backend->start();
            pollfd p { backend->done_fd(), POLLIN, 0 };
            // A connection that closes before its first message is a liveness probe
            // (listen_unix's), not QEMU: accept the next one.
            if (::poll(&p, 1, 200) == 1 && backend->messages() == 0 && backend->error().empty()) {
                backend->stop();
                continue;
            }
            break;
        }
        bool driver_ok = false;
        for (;;) {
            pollfd p { backend->done_fd(), POLLIN, 0 };
            int ready = ::poll(&p, 1, 100);
            if (!driver_ok && backend->device_started()) {
                driver_ok = true;
                std::lock_guard guard(out_lock);
                std::printf("NSM DRIVER_OK\n");
                std::fflush(stdout);
            }
            if (ready == 1)
                break;
        }
        backend->stop();
        std::string error = backend->error();
        std::printf("NSM end requests=%llu driver_ok=%d error=%s\n", static_cast<unsigned long long>(backend->requests()), driver_ok ? 1 : 0, error.c_str());
        ::unlink(argv[1]);
        return error.empty() ? 0 : 4;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nsm_vhost_user_stub: %s\n", e.what());
        return 1;
    }
}
