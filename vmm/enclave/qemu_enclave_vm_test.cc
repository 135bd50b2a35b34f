// QemuEnclaveVm::start() before anything is spawned: the QEMU binary is asked for its version
// and, with an NSM device, whether -device may create vhost-user-device; a stand-in QEMU
// (QT_VMM_QEMU, a shell script answering -version and -device help) makes the answers fixed.
#include "base/error.h"
#include "vmm/enclave/qemu_enclave_vm.h"
#include "vmm/testing/fake_bzimage.h"

#include <cstdlib>
#include <doctest/doctest.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

// A QEMU stand-in: `-version` prints `version_line`, `-device help` prints `device_help`.
struct FakeQemu {
    std::string dir;
    std::string path;
    FakeQemu(const std::string& version_line, const std::string& device_help)
    {
        char pattern[] = "/tmp/qemu-probe-test.XXXXXX";
        dir = ::mkdtemp(pattern);
        path = dir + "/qemu-system-x86_64";
        std::ofstream script(path);
        script << "#!/bin/sh\ncase \"$1\" in\n-version) echo '" << version_line << "' ;;\n-device) echo '" << device_help
               << "' ;;\n*) exit 1 ;;\nesac\n";
        script.close();
        ::chmod(path.c_str(), 0755);
        ::setenv("QT_VMM_QEMU", path.c_str(), 1);
    }
    ~FakeQemu()
    {
        ::unsetenv("QT_VMM_QEMU");
        ::unlink(path.c_str());
        ::rmdir(dir.c_str());
    }
};

std::string start_error(vmm::nsm::RequestHandler nsm)
{
    vmm::MachineConfig machine;
    machine.memory_bytes = 128 << 20;
    vmm::BootImage image;
    image.kernel = vmm::testing::fake_bzimage();
    vmm::VsockConfig vsock;
    vsock.guest_cid = 16;
    auto vm = vmm::QemuEnclaveVm::create(machine, image, vsock, std::move(nsm), nullptr);
    try {
        vm->start();
    } catch (const base::Error& e) {
        return e.code() + ": " + e.what();
    }
    return "started";
}

const vmm::nsm::RequestHandler kHandler = [](std::string_view) { return std::string("\xa0"); };

} // namespace

TEST_CASE("QemuEnclaveVm: an NSM device needs a QEMU whose -device can create vhost-user-device")
{
    // QEMU 10.0.2 as Debian ships it: vhost-user-device exists but is not in -device help.
    FakeQemu qemu("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)", "name \"vhost-user-vsock-device\", bus virtio-bus");
    std::string error = start_error(kHandler);
    CHECK(error.find("QEMU_NO_VHOST_USER_DEVICE: ") == 0);
    CHECK(error.find("(QEMU 10.0.2)") != std::string::npos);
    CHECK(error.find("QT_VMM_QEMU") != std::string::npos);
    CHECK(error.find("--accel kvm") != std::string::npos);
}

TEST_CASE("QemuEnclaveVm: a binary that prints no QEMU version is refused before anything runs")
{
    FakeQemu qemu("not qemu", "");
    std::string error = start_error(nullptr);
    CHECK(error.find("QEMU_VERSION: ") == 0);
}
