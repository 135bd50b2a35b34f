// tests/tools/nsm_boot_probe.cc — boots a Linux kernel (no initrd: it ends at "unable to mount
// root") on qt-vmm's KVM VMM with the NSM device in virtio-mmio slot 1, answering requests
// with a stub instead of the NSM module, and reports what the guest's driver (drivers/misc/
// nsm.c, CONFIG_NSM) did: whether it set DRIVER_OK, and the requests it sent — its hwrng
// (nsm-hwrng, quality 1000) asks for GetRandom during boot, in the driver's two-chain layout.
// This needs no guest user mode, so it runs where this host's KVM cannot run an app
// (tests/integration/vmm_nsm_probe.sh).
//
// Usage: nsm_boot_probe KERNEL [--nested-quirks] [--timeout S]
// the console's lines about virtio, nsm and hwrng, then "NSMPROBE driver_ok=0|1 requests=N
// first=<the first request, hex> features=0x..."; exits 0 if the driver set DRIVER_OK and a request arrived, 1 if
// not within the timeout, 64 on usage.
#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "vmm/devices/console_buffer.h"
#include "vmm/enclave/kvm_enclave_vm.h"
#include "vmm/enclave/launcher.h"
#include "vmm/enclave/nested_kvm_fixups.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

// {"GetRandom": {"random": 32 bytes}} (nitro-enclaves.md §5.2), the only request the driver
// sends on its own; anything else gets {"Error": "InvalidOperation"}.
std::string stub_response(std::string_view request)
{
    static const std::string get_random = std::string("\x69", 1) + "GetRandom";
    if (request != get_random)
        return std::string("\xa1\x65", 2) + "Error" + std::string("\x70", 1) + "InvalidOperation";
    return std::string("\xa1\x69", 2) + "GetRandom" + std::string("\xa1\x66", 2) + "random" + std::string("\x58\x20", 2)
        + std::string(32, '\x5a');
}

int usage()
{
    std::fprintf(stderr, "usage: nsm_boot_probe KERNEL [--nested-quirks] [--timeout S]\n");
    return 64;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
        return usage();
    bool quirks = false;
    int timeout_s = 300;
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--nested-quirks") == 0)
            quirks = true;
        else if (std::strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = std::atoi(argv[++i]);
        else
            return usage();
    }
    try {
        vmm::BootImage image;
        std::string kernel = base::read_file(argv[1], 64 << 20);
        image.kernel.assign(kernel.begin(), kernel.end());
        vmm::ConsoleBuffer console(1 << 20);
        vmm::MachineConfig config;
        config.memory_bytes = 256 << 20;
        config.page_size = 4096;
        config.console = &console;
        config.cmdline = "console=ttyS0 reboot=k panic=-1" + vmm::vmm_cmdline_additions(quirks);
#if defined(__x86_64__) // the nested-KVM workarounds are x86's
        config.cpuid_quirks.hide_cx16 = config.cpuid_quirks.hide_pv_ipi = config.cpuid_quirks.hide_tsc_deadline = quirks;
        if (quirks)
            config.on_emulation_failure = vmm::deliver_int3_as_breakpoint;
#endif
        vmm::VsockConfig vsock;
        vsock.guest_cid = 16;

        std::mutex lock;
        std::condition_variable arrived;
        std::vector<std::string> requests;
        auto handler = [&](std::string_view request) {
            std::lock_guard guard(lock);
            requests.emplace_back(request);
            arrived.notify_all();
            return stub_response(request);
        };
        auto vm = vmm::KvmEnclaveVm::create(config, image, vsock, handler, [](const vmm::ExitInfo&) {});
        vm->start();
        {
            std::unique_lock guard(lock);
            arrived.wait_for(guard, std::chrono::seconds(timeout_s), [&] { return !requests.empty(); });
        }
        vmm::virtio::MmioTransport& transport = vm->nsm_device()->transport();
        bool driver_ok = transport.driver_ok();
        std::uint64_t features = transport.negotiated_features();
        vm->request_stop(vmm::ExitKind::Stopped, "nsm_boot_probe is done");
        vm->wait();
        std::string first;
        std::size_t count;
        {
            std::lock_guard guard(lock);
            count = requests.size();
            if (count)
                first = base::to_hex(requests.front().data(), requests.front().size());
        }
        std::string text;
        std::uint64_t lost = 0;
        console.read(0, text, lost);
        std::printf("---- console: the lines about virtio and the NSM ----\n");
        std::size_t begin = 0;
        while (begin < text.size()) {
            std::size_t end = text.find('\n', begin);
            if (end == std::string::npos)
                end = text.size();
            std::string line = text.substr(begin, end - begin);
            if (line.find("virtio") != std::string::npos || line.find("nsm") != std::string::npos || line.find("hwrng") != std::string::npos)
                std::printf("%s\n", line.c_str());
            begin = end + 1;
        }
        std::printf("------------------------------------------------------\n");
        std::printf("NSMPROBE driver_ok=%d requests=%zu first=%s features=0x%llx\n", driver_ok ? 1 : 0, count,
            first.empty() ? "-" : first.c_str(), static_cast<unsigned long long>(features));
        return driver_ok && count > 0 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nsm_boot_probe: %s\n", e.what());
        return 1;
    }
}
