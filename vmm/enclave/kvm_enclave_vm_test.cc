// KvmEnclaveVm's virtio-mmio slots: vsock always in slot 0, the NSM device in slot 1 only when
// given a request handler, and the command line announcing exactly the slots in use. Needs
// /dev/kvm (the machine is created, never started).
#include "vmm/enclave/kvm_enclave_vm.h"
#include "vmm/testing/fake_bzimage.h"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace vmm;

namespace {

std::unique_ptr<KvmEnclaveVm> make_vm(nsm::RequestHandler nsm)
{
    BootImage image;
    image.kernel = testing::fake_bzimage();
    MachineConfig config;
    config.memory_bytes = 16 << 20;
    config.page_size = 4096;
    config.cmdline = "console=ttyS0";
    VsockConfig vsock;
    vsock.guest_cid = 16;
    return KvmEnclaveVm::create(config, image, vsock, std::move(nsm), [](const ExitInfo&) {});
}

} // namespace

TEST_CASE("with /dev/kvm: KvmEnclaveVm announces the NSM slot only when it has an NSM device")
{
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        MESSAGE("skipped: no /dev/kvm");
        return;
    }
    auto plain = make_vm({});
    CHECK(plain->nsm_device() == nullptr);
    CHECK(plain->machine_config().cmdline == "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5");

    auto with_nsm = make_vm([](std::string_view) { return std::string(); });
    REQUIRE(with_nsm->nsm_device() != nullptr);
    CHECK(with_nsm->machine_config().cmdline
        == "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    CHECK(with_nsm->nsm_device()->transport().driver_ok() == false);
    // The device thread runs from create() on: it takes tasks (the daemon's seccomp list).
    bool ran = false;
    CHECK(with_nsm->nsm_device()->run_in_thread([&] { ran = true; }));
    CHECK(ran);
}
