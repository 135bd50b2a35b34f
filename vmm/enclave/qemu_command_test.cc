#include "vmm/enclave/qemu_command.h"

#include "base/error.h"

#include <algorithm>
#include <cstdlib>
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

// A 2-vCPU launch with kernel, initrd, vhost-user and console on inherited fds.
vmm::QemuLaunch two_vcpu_launch(std::string binary, eif::Arch arch, std::uint64_t memory_mib)
{
    vmm::QemuLaunch q;
    q.binary = std::move(binary);
    q.arch = arch;
    q.vcpus = 2;
    q.memory_mib = memory_mib;
    q.kernel_path = "/proc/self/fd/7";
    q.initrd_path = "/proc/self/fd/8";
    q.cmdline = "console=ttyS0 reboot=k";
    q.vhost_user_fd = 5;
    q.console_fd = 6;
    return q;
}

} // namespace

TEST_CASE("qemu_arguments: a software-emulated enclave")
{
    vmm::QemuLaunch q = two_vcpu_launch("/usr/bin/qemu-system-x86_64", eif::Arch::X86_64, 512);
    std::vector<std::string> argv = vmm::qemu_arguments(q);
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

TEST_CASE("qemu_arguments: production mode and no initrd")
{
    vmm::QemuLaunch q;
    q.memory_mib = 128;
    q.kernel_path = "k";
    q.vhost_user_fd = 3;
    std::vector<std::string> argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-serial") == "null"); // no console outside debug mode
    CHECK(after(argv, "-chardev", "socket,id=console0").empty());
    CHECK(std::find(argv.begin(), argv.end(), "-initrd") == argv.end());
}

TEST_CASE("qemu_arguments: QEMU's seccomp sandbox always, -run-with user= (or -runas) when asked")
{
    vmm::QemuLaunch q;
    q.memory_mib = 128;
    q.kernel_path = "k";
    q.vhost_user_fd = 3;
    std::vector<std::string> argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-sandbox") == "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    CHECK(std::find(argv.begin(), argv.end(), "-runas") == argv.end());
    CHECK(std::find(argv.begin(), argv.end(), "-run-with") == argv.end());
    q.run_as = "qt-vmm-daemon";
    q.version = { 10, 0, 2 };
    argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-run-with") == "user=qt-vmm-daemon"); // QEMU 10 has no -runas
    CHECK(std::find(argv.begin(), argv.end(), "-runas") == argv.end());
    // QEMU installs its filter before that setuid: deny would kill it there.
    CHECK(after(argv, "-sandbox") == "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny");
    q.version = { 7, 2, 22 }; // before -run-with (9.1)
    argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-runas") == "qt-vmm-daemon");
    CHECK(std::find(argv.begin(), argv.end(), "-run-with") == argv.end());
}

TEST_CASE("qemu_arguments: the NSM device on a second vhost-user socket, only when asked")
{
    vmm::QemuLaunch q;
    q.memory_mib = 128;
    q.kernel_path = "k";
    q.vhost_user_fd = 3;
    std::vector<std::string> argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-chardev", "socket,id=nsm0").empty());
    CHECK(after(argv, "-device", "vhost-user-device").empty());
    q.nsm_vhost_user_fd = 9;
    argv = vmm::qemu_arguments(q);
    CHECK(after(argv, "-chardev", "socket,id=nsm0") == "socket,id=nsm0,fd=9");
    CHECK(after(argv, "-device", "vhost-user-device,") == "vhost-user-device,chardev=nsm0,virtio-id=33,num_vqs=1,config_size=0");
    CHECK(after(argv, "-device", "vhost-user-vsock") == "vhost-user-vsock-device,chardev=vsock0"); // vsock stays
}

TEST_CASE("parse_qemu_version: Debian's and upstream's -version lines")
{
    auto v = vmm::parse_qemu_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025\n");
    REQUIRE(v);
    CHECK(v->major == 10);
    CHECK(v->minor == 0);
    CHECK(v->micro == 2);
    CHECK(v->at_least(9, 1));
    v = vmm::parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)\n");
    REQUIRE(v);
    CHECK(v->text() == "7.2.22");
    CHECK(!v->at_least(9, 1));
    CHECK(vmm::parse_qemu_version("QEMU emulator version 9.1\n")->at_least(9, 1));
    CHECK(!vmm::parse_qemu_version("qemu-system-x86_64: -version: invalid option"));
    CHECK(!vmm::parse_qemu_version("QEMU emulator version x.y"));
    CHECK(!vmm::parse_qemu_version(""));
}

TEST_CASE("device_help_lists: only the devices -device help names (the ones QEMU lets -device create)")
{
    // From QEMU 10.0.2's -device help: vhost-user-device is not there (not user-creatable),
    // although "-device vhost-user-device,help" lists its properties.
    const std::string help = "Misc devices:\nname \"vhost-user-vsock-device\", bus virtio-bus\nname \"vhost-user-rng\", bus virtio-bus\n";
    CHECK(vmm::device_help_lists(help, "vhost-user-vsock-device"));
    CHECK_FALSE(vmm::device_help_lists(help, "vhost-user-device"));
    CHECK(vmm::device_help_lists(help + "name \"vhost-user-device\", bus virtio-bus\n", "vhost-user-device"));
    CHECK_FALSE(vmm::device_help_lists(help, "vhost-user"));
}

TEST_CASE("qemu_arguments: an aarch64 EIF runs on the virt machine with GICv3, the same vsock device and console")
{
    vmm::QemuLaunch q = two_vcpu_launch("qemu-system-aarch64", eif::Arch::Aarch64, 256);
    std::vector<std::string> argv = vmm::qemu_arguments(q);
    CHECK(argv[0] == "qemu-system-aarch64");
    CHECK(after(argv, "-M").rfind("virt,", 0) == 0);
    CHECK(after(argv, "-M").find("gic-version=3") != std::string::npos);
    CHECK(after(argv, "-M").find("memory-backend=mem") != std::string::npos);
    CHECK(after(argv, "-accel") == "tcg");
    CHECK(after(argv, "-cpu").rfind("max", 0) == 0);
    CHECK(after(argv, "-object") == "memory-backend-memfd,id=mem,size=256M,share=on");
    CHECK(after(argv, "-device", "vhost-user-vsock") == "vhost-user-vsock-device,chardev=vsock0");
    CHECK(after(argv, "-global") == "virtio-mmio.force-legacy=false");
    CHECK(after(argv, "-serial") == "chardev:console0");
    CHECK(after(argv, "-device", "i8042").empty()); // x86 only; PSCI resets the virt machine
    CHECK(std::count(argv.begin(), argv.end(), "-no-reboot") == 1);
    // The virt machine's UART is a PL011: the last console= is the one /dev/console follows.
    CHECK(after(argv, "-append") == "console=ttyS0 reboot=k console=ttyAMA0");
    CHECK(after(argv, "-sandbox").rfind("on,", 0) == 0);
}

TEST_CASE("qemu_system: one binary and one install hint per architecture, each with its own override")
{
    const char* outer = std::getenv("QT_VMM_QEMU");
    const std::string saved = outer ? outer : "";
    ::unsetenv("QT_VMM_QEMU");
    ::unsetenv("QT_VMM_QEMU_AARCH64");
    CHECK(vmm::qemu_system(eif::Arch::X86_64).binary == "qemu-system-x86_64");
    CHECK(vmm::qemu_system(eif::Arch::Aarch64).binary == "qemu-system-aarch64");
    CHECK(vmm::qemu_system(eif::Arch::Aarch64).install.find("qemu-system-arm") != std::string::npos);
    CHECK(vmm::qemu_system(eif::Arch::Aarch64).install.find("QT_VMM_QEMU_AARCH64") != std::string::npos);
    ::setenv("QT_VMM_QEMU_AARCH64", "/opt/q/aarch64", 1);
    CHECK(vmm::qemu_system(eif::Arch::Aarch64).binary == "/opt/q/aarch64");
    CHECK(vmm::qemu_system(eif::Arch::X86_64).binary == "qemu-system-x86_64");
    ::unsetenv("QT_VMM_QEMU_AARCH64");
    if (!saved.empty())
        ::setenv("QT_VMM_QEMU", saved.c_str(), 1);
}

TEST_CASE("qemu_binary_exists: a path as is, a bare name on $PATH; QEMU_MISSING says how to install")
{
    CHECK(vmm::qemu_binary_exists("/bin/sh"));
    CHECK(vmm::qemu_binary_exists("sh"));
    CHECK(!vmm::qemu_binary_exists("/nonexistent/qemu-system-aarch64"));
    CHECK(!vmm::qemu_binary_exists("qemu-system-nonexistent-arch"));
    try {
        vmm::throw_qemu_missing("qemu-system-aarch64", vmm::qemu_system(eif::Arch::Aarch64).install);
        FAIL("no error");
    } catch (const base::Error& e) {
        CHECK(e.code() == "QEMU_MISSING");
        CHECK(std::string(e.what()).find("qemu-system-aarch64, which was not found; install it with scripts/install-deps.sh (Debian: qemu-system-arm)")
            != std::string::npos);
    }
}
