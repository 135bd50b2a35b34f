#include "vmm/enclave/qemu_command.h"

#include <cstdlib>

namespace vmm {

std::vector<std::string> qemu_microvm_arguments(const QemuLaunch& launch)
{
    std::string memory = std::to_string(launch.memory_mib) + "M";
    std::vector<std::string> argv {
        launch.binary,
        "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off,memory-backend=mem",
        "-accel", "tcg",
        "-cpu", "max",
        "-smp", std::to_string(launch.vcpus),
        "-m", memory,
        "-object", "memory-backend-memfd,id=mem,size=" + memory + ",share=on",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        // QEMU 7.2 installs this filter before -runas changes its IDs, so with -runas set*uid
        // must stay allowed (elevateprivileges=deny kills it with SIGSYS right there); after
        // -runas QEMU is an unprivileged user without capabilities, set*uid elevates nothing.
        "-sandbox", std::string("on,obsolete=deny,elevateprivileges=") + (launch.run_as.empty() ? "deny" : "allow") + ",spawn=deny,resourcecontrol=deny",
        "-device", "i8042",
        // Modern virtio-mmio (version 2, VIRTIO_F_VERSION_1) as with --accel kvm, not QEMU's legacy default.
        "-global", "virtio-mmio.force-legacy=false",
        "-chardev", "socket,id=vsock0,fd=" + std::to_string(launch.vhost_user_fd),
        "-device", "vhost-user-vsock-device,chardev=vsock0",
    };
    if (launch.console_fd >= 0) {
        argv.insert(argv.end(), { "-chardev", "socket,id=console0,fd=" + std::to_string(launch.console_fd), "-serial", "chardev:console0" });
    } else {
        argv.insert(argv.end(), { "-serial", "null" });
    }
    if (!launch.run_as.empty())
        argv.insert(argv.end(), { "-runas", launch.run_as });
    argv.insert(argv.end(), { "-kernel", launch.kernel_path });
    if (!launch.initrd_path.empty())
        argv.insert(argv.end(), { "-initrd", launch.initrd_path });
    argv.insert(argv.end(), { "-append", launch.cmdline });
    return argv;
}

std::string qemu_binary()
{
    const char* custom = std::getenv("QT_VMM_QEMU");
    return custom && *custom ? custom : "qemu-system-x86_64";
}

} // namespace vmm
