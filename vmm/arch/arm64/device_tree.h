// vmm/arch/arm64/device_tree.h — builds the flattened device tree an arm64 guest boots from,
// with libfdt: /memory, /cpus (PSCI enable-method, reg = MPIDR), /psci 0.2 over hvc, the GICv3,
// the architected timer, the 16550 UART, one virtio,mmio node per device and /chosen (bootargs,
// initrd, stdout-path). Addresses and interrupts come from layout.h. No KVM headers: it builds
// and is tested on any host.
//
// Usage:
//     std::vector<std::uint8_t> dtb = vmm::arm64::build_device_tree({ .ram_size = ram.size(), .vcpus = 2,
//         .bootargs = cmdline, .initrd_address = a, .initrd_size = n, .virtio_devices = 1 });
//     ram.write(dtb_address, dtb.data(), dtb.size());   // X0 = dtb_address at entry
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmm::arm64 {

struct DeviceTreeSpec {
    std::uint64_t ram_size { 0 };       // RAM starts at kRamBase
    unsigned vcpus { 1 };
    std::string bootargs;
    std::uint64_t initrd_address { 0 }; // guest-physical; ignored when initrd_size is 0
    std::uint64_t initrd_size { 0 };
    unsigned virtio_devices { 0 };      // slots 0..n-1 of the virtio-mmio window
};

// Phandle of the interrupt controller (the only node referenced).
inline constexpr std::uint32_t kGicPhandle = 1;

// The blob (a valid FDT, at most kDeviceTreeMax bytes); throws base::Error if it would not fit.
std::vector<std::uint8_t> build_device_tree(const DeviceTreeSpec& spec);

// "/uart@1000000": the console's node, /chosen's stdout-path.
std::string uart_node_path();

} // namespace vmm::arm64
