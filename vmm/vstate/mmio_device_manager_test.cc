// MmioDeviceManager: the slot layout and command line without KVM; with /dev/kvm, the wiring of
// a device's registers, kick eventfds and interrupt eventfd into a real (guest-less) VM.
#include "vmm/vstate/mmio_device_manager.h"

#include "base/error.h"
#include "base/eventfd.h"
#include "vmm/arch/machine_arch.h"

#include <doctest/doctest.h>

#include <unistd.h>

using namespace vmm;

TEST_CASE("virtio-mmio slots: 4 KiB apart in the architecture's window, one interrupt each")
{
    const VirtioMmioWindow window = virtio_mmio_window();
    for (unsigned i = 0; i < MmioDeviceManager::kMaxSlots; ++i) {
        CHECK(MmioDeviceManager::slot(i).base == window.base + i * 0x1000);
        CHECK(MmioDeviceManager::slot(i).irq == window.first_irq + i);
    }
}

#if defined(__x86_64__) // the x86 layout and its in-kernel IOAPIC; arm64's GIC wiring runs in the arm64 L1

namespace {

// Registers that remember what the bus routed to them.
class RecordingRegisters final : public MmioDevice {
public:
    void mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size) override
    {
        last_offset = offset;
        for (std::size_t i = 0; i < size; ++i)
            data[i] = 0xab;
    }
    void mmio_write(std::uint64_t offset, const std::uint8_t*, std::size_t) override { last_offset = offset; }
    std::uint64_t last_offset { ~0ull };
};

bool kvm_available() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }

} // namespace

TEST_CASE("virtio-mmio slots: 4 KiB apart from 0xd0000000, IRQs from 5, as the kernel command line says")
{
    CHECK(MmioDeviceManager::slot(0).base == 0xd000'0000);
    CHECK(MmioDeviceManager::slot(0).irq == 5);
    CHECK(MmioDeviceManager::slot(1).base == 0xd000'1000);
    CHECK(MmioDeviceManager::slot(1).irq == 6);
    CHECK(MmioDeviceManager::slot(0).cmdline_fragment() == "virtio_mmio.device=4K@0xd0000000:5");
    CHECK(MmioDeviceManager::slot(1).cmdline_fragment() == "virtio_mmio.device=4K@0xd0001000:6");
    CHECK(MmioDeviceManager::cmdline_fragments(0).empty());
    CHECK(MmioDeviceManager::cmdline_fragments(2) == " virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6");
    CHECK_THROWS_AS(MmioDeviceManager::slot(MmioDeviceManager::kMaxSlots), base::Error);
}

TEST_CASE("attach puts the registers on the bus in the next slot and refuses more than announced")
{
    if (!kvm_available()) {
        MESSAGE("skipped: no /dev/kvm");
        return;
    }
    KvmSystem kvm = KvmSystem::open();
    VmFd vm = kvm.create_vm();
    vm.create_irqchip(); // irqfds need the in-kernel interrupt controller
    IoBus bus;
    MmioDeviceManager devices(vm, bus, 2);
    RecordingRegisters first, second;
    base::UniqueFd kick0 = base::make_eventfd("TEST", "kick 0");
    base::UniqueFd kick1 = base::make_eventfd("TEST", "kick 1");
    base::UniqueFd irq0 = base::make_eventfd("TEST", "irq 0");
    base::UniqueFd irq1 = base::make_eventfd("TEST", "irq 1");

    VirtioMmioSlot a = devices.attach({ &first, { kick0.get(), kick1.get() }, irq0.get() });
    VirtioMmioSlot b = devices.attach({ &second, {}, irq1.get() });
    CHECK(a.base == 0xd000'0000);
    CHECK(b.base == 0xd000'1000);
    CHECK(devices.attached() == 2);

    std::uint8_t data[4] {};
    bus.mmio_read(0xd000'0070, data, 4);
    CHECK(first.last_offset == 0x70);
    CHECK(data[0] == 0xab);
    bus.mmio_write(0xd000'1010, data, 4);
    CHECK(second.last_offset == 0x10);
    CHECK(bus.unclaimed_accesses() == 0);
    bus.mmio_read(0xd000'2000, data, 4); // a slot nobody filled
    CHECK(bus.unclaimed_accesses() == 1);

    RecordingRegisters third;
    CHECK_THROWS_AS(devices.attach({ &third, {}, irq1.get() }), base::Error);
}
#endif
