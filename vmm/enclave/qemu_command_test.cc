#include "vmm/enclave/qemu_command.h"

#include <algorithm>
#include <doctest/doctest.h>

namespace {

// The value that follows `flag` (the first one if repeated), or "" if the flag is absent.
std::string after(const std::vector<std::string>& argv, const std::string& flag, const std::string& prefix = "")
{
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == flag && argv[i + 1].rfind(prefix, 0) == 0)
            return argv[i + 1];
    return "";
}

} // namespace

TEST_CASE("qemu_microvm_arguments: a software-emulated enclave")
{
    vmm::QemuLaunch q;
    q.binary = "/usr/bin/qemu-system-x86_64";
    q.vcpus = 2;
    q.memory_mib = 512;
    q.kernel_path = "/proc/self/fd/7";
    q.initrd_path = "/proc/self/fd/8";
    q.cmdline = "console=ttyS0 reboot=k";
    q.vhost_user_fd = 5;
    q.console_fd = 6;
    std::vector<std::string> argv = vmm::qemu_microvm_arguments(q);
    CHECK(argv[0] == q.binary);
    CHECK(after(argv, "-accel") == "tcg");
    CHECK(after(argv, "-M").find("microvm,") == 0);
    CHECK(after(argv, "-M").find("acpi=off") != std::string::npos);
    CHECK(after(argv, "-M").find("memory-backend=mem") != std::string::npos);
    // vhost-user needs guest RAM QEMU can share: a memfd backend of exactly --mem.
    CHECK(after(argv, "-object") == "memory-backend-memfd,id=mem,size=512M,share=on");
    CHECK(after(argv, "-m") == "512M");
    CHECK(after(argv, "-smp") == "2");
    CHECK(after(argv, "-chardev", "socket,id=vsock0") == "socket,id=vsock0,fd=5");
    CHECK(after(argv, "-device", "vhost-user-vsock") == "vhost-user-vsock-device,chardev=vsock0");
    CHECK(after(argv, "-global") == "virtio-mmio.force-legacy=false");
    CHECK(after(argv, "-chardev", "socket,id=console0") == "socket,id=console0,fd=6");
    CHECK(after(argv, "-serial") == "chardev:console0");
    CHECK(after(argv, "-device", "i8042") == "i8042"); // reboot=k ends QEMU
    CHECK(std::count(argv.begin(), argv.end(), "-no-reboot") == 1);
    CHECK(std::count(argv.begin(), argv.end(), "-nodefaults") == 1);
    CHECK(after(argv, "-kernel") == "/proc/self/fd/7");
    CHECK(after(argv, "-initrd") == "/proc/self/fd/8");
    CHECK(after(argv, "-append") == "console=ttyS0 reboot=k");
    // Nothing the enclave must not have: no network, no disk, no PCI devices.
    for (const std::string& a : argv) {
        CHECK(a.find("netdev") == std::string::npos);
        CHECK(a.find("drive") == std::string::npos);
        CHECK(a.find("-pci") == std::string::npos);
    }
}

TEST_CASE("qemu_microvm_arguments: production mode and no initrd")
{
    vmm::QemuLaunch q;
    q.memory_mib = 128;
    q.kernel_path = "k";
    q.vhost_user_fd = 3;
    std::vector<std::string> argv = vmm::qemu_microvm_arguments(q);
    CHECK(after(argv, "-serial") == "null"); // no console outside debug mode
    CHECK(after(argv, "-chardev", "socket,id=console0").empty());
    CHECK(std::find(argv.begin(), argv.end(), "-initrd") == argv.end());
}

TEST_CASE("qemu_microvm_arguments: QEMU's seccomp sandbox always, -runas when asked")
{
    vmm::QemuLaunch q;
    q.memory_mib = 128;
    q.kernel_path = "k";
    q.vhost_user_fd = 3;
    std::vector<std::string> argv = vmm::qemu_microvm_arguments(q);
    CHECK(after(argv, "-sandbox") == "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    CHECK(std::find(argv.begin(), argv.end(), "-runas") == argv.end());
    q.run_as = "qt-vmm-daemon";
    argv = vmm::qemu_microvm_arguments(q);
    CHECK(after(argv, "-runas") == "qt-vmm-daemon");
    // QEMU 7.2 installs its filter before -runas's setuid: deny would kill it there.
    CHECK(after(argv, "-sandbox") == "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny");
}
