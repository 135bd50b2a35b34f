#include "vmm/enclave/qemu_command.h"

#include <cstdlib>

namespace vmm {

std::vector<std::string> qemu_arguments(const QemuLaunch& launch)
{
    const bool arm64 = launch.arch == eif::Arch::Aarch64;
    std::string memory = std::to_string(launch.memory_mib) + "M";
    std::vector<std::string> argv {
        launch.binary,
        "-M", arm64 ? "virt,gic-version=3,acpi=off,memory-backend=mem" : "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off,memory-backend=mem",
        "-accel", "tcg",
        // aarch64: the implementation-defined pointer-authentication hash is much cheaper to emulate.
        "-cpu", arm64 ? "max,pauth-impdef=on" : "max",
        "-smp", std::to_string(launch.vcpus),
        "-m", memory,
        "-object", "memory-backend-memfd,id=mem,size=" + memory + ",share=on",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        // QEMU (7.2 and 10.0 alike) installs this filter before -run-with user= / -runas
        // changes its IDs, so then set*uid must stay allowed (elevateprivileges=deny kills it
        // with SIGSYS right there); afterwards QEMU is an unprivileged user without
        // capabilities, and set*uid elevates nothing.
        "-sandbox", std::string("on,obsolete=deny,elevateprivileges=") + (launch.run_as.empty() ? "deny" : "allow") + ",spawn=deny,resourcecontrol=deny",
        // Modern virtio-mmio (version 2, VIRTIO_F_VERSION_1) as with --accel kvm, not QEMU's legacy default.
        "-global", "virtio-mmio.force-legacy=false",
        "-chardev", "socket,id=vsock0,fd=" + std::to_string(launch.vhost_user_fd),
        "-device", "vhost-user-vsock-device,chardev=vsock0",
    };
    if (!arm64)
        argv.insert(argv.end(), { "-device", "i8042" }); // reboot=k ends QEMU (aarch64: PSCI SYSTEM_RESET)
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
    // The virt machine's UART is a PL011 (ttyAMA0); a later console= is the one /dev/console uses.
    argv.insert(argv.end(), { "-append", arm64 ? launch.cmdline + " console=ttyAMA0" : launch.cmdline });
    return argv;
}

QemuSystem qemu_system(eif::Arch arch)
{
    const bool arm64 = arch == eif::Arch::Aarch64;
    const char* env = arm64 ? "QT_VMM_QEMU_AARCH64" : "QT_VMM_QEMU";
    const char* custom = std::getenv(env);
    return QemuSystem {
        .binary = custom && *custom ? custom : (arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64"),
        .install = std::string("install it with scripts/install-deps.sh (Debian: ") + (arm64 ? "qemu-system-arm" : "qemu-system-x86") + ") or set " + env,
    };
}

} // namespace vmm
