// arm64 boot, its pure part (runs on any host): Image header parsing and refusals, the boot
// layout in RAM at 0x80000000 and the boot vCPU's register values.
#include "base/error.h"
#include "vmm/arch/arm64/boot_setup.h"
#include "vmm/arch/arm64/image.h"
#include "vmm/arch/arm64/layout.h"

#include <doctest/doctest.h>

#include <cstring>
#include <libfdt.h>
#include <string>
#include <vector>

using namespace vmm;
using namespace vmm::arm64;

namespace {

void put64(std::vector<std::uint8_t>& file, std::size_t offset, std::uint64_t value)
{
    for (int i = 0; i < 8; ++i)
        file[offset + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value >> (8 * i));
}

// An Image header as arch/arm64/kernel/head.S writes it, followed by `size - 64` bytes.
std::vector<std::uint8_t> fake_image(std::size_t size = 64 << 10, std::uint64_t text_offset = 0, std::uint64_t image_size = 1 << 20,
    std::uint64_t flags = 0xa) // little-endian, 4K pages, anywhere
{
    std::vector<std::uint8_t> file(size, 0);
    for (std::size_t i = 64; i < size; ++i)
        file[i] = static_cast<std::uint8_t>(i * 7);
    put64(file, 0x08, text_offset);
    put64(file, 0x10, image_size);
    put64(file, 0x18, flags);
    std::memcpy(file.data() + 0x38, "ARM\x64", 4);
    return file;
}

std::string refusal(const std::vector<std::uint8_t>& file)
{
    try {
        Image::parse(file);
    } catch (const base::Error& e) {
        CHECK(e.code() == "KERNEL_IMAGE");
        return e.what();
    }
    return "";
}

// The `index`th 64-bit big-endian value of a property (FDT properties are only 4-byte aligned).
std::uint64_t be64_at(const void* property, std::size_t index)
{
    fdt64_t raw;
    std::memcpy(&raw, static_cast<const std::uint8_t*>(property) + index * sizeof raw, sizeof raw);
    return fdt64_to_cpu(raw);
}

GuestMemory arm64_ram(std::uint64_t size)
{
    return GuestMemory::create({ .size = size, .page_size = 4096, .lock = false, .guest_base = kRamBase });
}

} // namespace

TEST_CASE("Image: text_offset, image_size and flags come from the header")
{
    auto file = fake_image(64 << 10, 0x80000, 3 << 20, 0xa);
    Image image = Image::parse(file);
    CHECK(image.text_offset() == 0x80000);
    CHECK(image.memory_size() == 3 << 20);
    CHECK(image.flags() == 0xa);
    CHECK(image.placement_anywhere());
    CHECK(image.file_size() == 64 << 10);
    CHECK(image.data() == file.data());
}

TEST_CASE("Image: a header with image_size 0 (before Linux 3.17) means text_offset 0x80000")
{
    auto file = fake_image(64 << 10, 0x1234000, 0, 0);
    Image image = Image::parse(file);
    CHECK(image.text_offset() == 0x80000);
    CHECK(image.memory_size() == 64 << 10);
    CHECK_FALSE(image.placement_anywhere());
}

TEST_CASE("Image: bad headers are refused with the reason and the fix")
{
    CHECK(refusal(std::vector<std::uint8_t>(63, 0)).find("less than the 64-byte header") != std::string::npos);

    auto no_magic = fake_image();
    no_magic[0x3b] = 0;
    CHECK(refusal(no_magic).find("magic") != std::string::npos);

    auto gzip = fake_image();
    gzip[0x38] = 0;
    gzip[0] = 0x1f;
    gzip[1] = 0x8b;
    CHECK(refusal(gzip).find("gunzip") != std::string::npos);

    CHECK(refusal(fake_image(64 << 10, 0, 1 << 20, 0xb)).find("big-endian") != std::string::npos);
    CHECK(refusal(fake_image(64 << 10, 0, 1 << 20, 0x1a)).find("reserved") != std::string::npos);
    CHECK(refusal(fake_image(64 << 10, 0x80001, 1 << 20)).find("text_offset") != std::string::npos);
    CHECK(refusal(fake_image(64 << 10, 2 << 20, 4 << 20)).find("text_offset") != std::string::npos);
    CHECK(refusal(fake_image(64 << 10, 0, 4096)).find("smaller than the file") != std::string::npos);
    CHECK(refusal(fake_image(64 << 10, 0, 2ull << 30)).find("over 1 GiB") != std::string::npos);
    CHECK(refusal(fake_image()).empty());
}

TEST_CASE("boot layout: Image at RAM + text_offset, device tree in the last 2 MiB, initrd just below")
{
    auto file = fake_image(64 << 10, 0x80000, 3 << 20);
    Image image = Image::parse(file);
    GuestMemory ram = arm64_ram(64 << 20);
    BootLayout layout = plan_boot(image, ram, 100000);
    CHECK(layout.kernel_address == kRamBase + 0x80000);
    CHECK(layout.kernel_address % 4096 == 0);
    CHECK((layout.kernel_address - image.text_offset()) % kKernelAlignment == 0);
    CHECK(layout.kernel_end == layout.kernel_address + (3 << 20));
    CHECK(layout.device_tree_address == kRamBase + (62 << 20));
    CHECK(layout.device_tree_address % 8 == 0);
    CHECK(layout.initrd_address % 4096 == 0);
    CHECK(layout.initrd_address + 100000 <= layout.device_tree_address);
    CHECK(layout.initrd_address >= layout.kernel_end);
    CHECK(layout.initrd_size == 100000);

    write_boot_structures(ram, image, layout, { .vcpus = 2, .bootargs = "console=ttyS0", .virtio_devices = 1 });
    CHECK(std::memcmp(ram.translate(layout.kernel_address, file.size()), file.data(), file.size()) == 0);
    const void* tree = ram.translate(layout.device_tree_address, kDeviceTreeMax);
    REQUIRE(fdt_check_header(tree) == 0);
    int chosen = fdt_path_offset(tree, "/chosen");
    REQUIRE(chosen >= 0);
    CHECK(std::string(static_cast<const char*>(fdt_getprop(tree, chosen, "bootargs", nullptr))) == "console=ttyS0");
    const void* start = fdt_getprop(tree, chosen, "linux,initrd-start", nullptr);
    REQUIRE(start);
    CHECK(be64_at(start, 0) == layout.initrd_address);
    int memory = fdt_path_offset(tree, "/memory@80000000");
    REQUIRE(memory >= 0);
    const void* reg = fdt_getprop(tree, memory, "reg", nullptr);
    REQUIRE(reg);
    CHECK(be64_at(reg, 0) == kRamBase);
    CHECK(be64_at(reg, 1) == 64 << 20);
}

TEST_CASE("boot layout: too little RAM, or RAM not at 0x80000000, is refused naming what is needed")
{
    auto file = fake_image(64 << 10, 0, 6 << 20);
    Image image = Image::parse(file);
    GuestMemory small = arm64_ram(8 << 20);
    try {
        plan_boot(image, small, 1 << 20);
        FAIL("8 MiB must be too small for a 6 MiB kernel, 1 MiB initrd and the device tree");
    } catch (const base::Error& e) {
        CHECK(e.code() == "MEM_TOO_SMALL");
        CHECK(std::string(e.what()).find("--memory") != std::string::npos);
    }
    CHECK_NOTHROW(plan_boot(image, arm64_ram(12 << 20), 1 << 20));
    GuestMemory x86_style = GuestMemory::create({ .size = 64 << 20, .page_size = 4096, .lock = false });
    CHECK_THROWS_AS(plan_boot(image, x86_style, 0), base::Error);
}

TEST_CASE("boot vCPU registers: PC = the Image's entry, X0 = device tree, X1-X3 = 0, EL1h with DAIF masked")
{
    BootLayout layout;
    layout.kernel_address = kRamBase + 0x80000;
    layout.device_tree_address = kRamBase + (62 << 20);
    std::vector<CoreRegister> regs = boot_cpu_registers(layout);
    auto value_of = [&](std::uint64_t id) -> std::uint64_t {
        for (const CoreRegister& r : regs)
            if (r.id == id)
                return r.value;
        FAIL("register " << id << " is not set");
        return 0;
    };
    CHECK(regs.size() == 6);
    CHECK(value_of(kRegisterPc) == kRamBase + 0x80000);
    CHECK(value_of(core_register_id(0)) == kRamBase + (62 << 20));
    CHECK(value_of(core_register_id(2)) == 0);
    CHECK(value_of(core_register_id(4)) == 0);
    CHECK(value_of(core_register_id(6)) == 0);
    CHECK(value_of(kRegisterPstate) == 0x3c5);
    // The ids KVM_SET_ONE_REG wants (asm/kvm.h: KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE
    // | offsetof(struct kvm_regs, field) / 4), spelled out: regs[0] at 0, pc at 256, pstate at 264.
    CHECK(kRegisterX0 == 0x6030000000100000ull);
    CHECK(kRegisterPc == 0x6030000000100040ull);
    CHECK(kRegisterPstate == 0x6030000000100042ull);
}

TEST_CASE("MPIDR of vCPU n as KVM assigns it: 16 per cluster (Aff0), clusters in Aff1")
{
    CHECK(mpidr_for_vcpu(0) == 0);
    CHECK(mpidr_for_vcpu(15) == 0xf);
    CHECK(mpidr_for_vcpu(16) == 0x100);
    CHECK(mpidr_for_vcpu(37) == 0x205);
}
