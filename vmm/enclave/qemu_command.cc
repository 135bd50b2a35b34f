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
        // QEMU (7.2 and 10.0 alike) installs this filter before -run-with user= / -runas
        // changes its IDs, so then set*uid must stay allowed (elevateprivileges=deny kills it
        // with SIGSYS right there); afterwards QEMU is an unprivileged user without
        // capabilities, and set*uid elevates nothing.
        "-sandbox", std::string("on,obsolete=deny,elevateprivileges=") + (launch.run_as.empty() ? "deny" : "allow") + ",spawn=deny,resourcecontrol=deny",
        "-device", "i8042",
        // Modern virtio-mmio (version 2, VIRTIO_F_VERSION_1) as with --accel kvm, not QEMU's legacy default.
        "-global", "virtio-mmio.force-legacy=false",
        "-chardev", "socket,id=vsock0,fd=" + std::to_string(launch.vhost_user_fd),
        "-device", "vhost-user-vsock-device,chardev=vsock0",
    };
    if (launch.nsm_vhost_user_fd >= 0) {
        // The NSM device (virtio ID 33): one request queue, no config space; qt-vmm serves it.
        argv.insert(argv.end(), { "-chardev", "socket,id=nsm0,fd=" + std::to_string(launch.nsm_vhost_user_fd),
            "-device", "vhost-user-device,chardev=nsm0,virtio-id=33,num_vqs=1,config_size=0" });
    }
    if (launch.console_fd >= 0) {
        argv.insert(argv.end(), { "-chardev", "socket,id=console0,fd=" + std::to_string(launch.console_fd), "-serial", "chardev:console0" });
    } else {
        argv.insert(argv.end(), { "-serial", "null" });
    }
    if (!launch.run_as.empty()) {
        if (launch.version.at_least(9, 1))
            argv.insert(argv.end(), { "-run-with", "user=" + launch.run_as });
        else
            argv.insert(argv.end(), { "-runas", launch.run_as });
    }
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
