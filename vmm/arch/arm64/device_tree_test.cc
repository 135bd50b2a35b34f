// The arm64 device tree, read back with libfdt: every node and property the guest kernel uses.
#include "vmm/arch/arm64/device_tree.h"
#include "vmm/arch/arm64/layout.h"

#include <doctest/doctest.h>

#include <cstring>
#include <libfdt.h>
#include <string>
#include <vector>

using namespace vmm::arm64;

namespace {

// The tree and libfdt look-ups that fail the test when a node or property is missing.
struct Tree {
    explicit Tree(const DeviceTreeSpec& spec)
        : blob(build_device_tree(spec))
    {
        REQUIRE(fdt_check_header(blob.data()) == 0);
        REQUIRE(fdt_totalsize(blob.data()) == blob.size());
    }
    int node(const std::string& path) const
    {
        int offset = fdt_path_offset(blob.data(), path.c_str());
        INFO("node " << path);
        REQUIRE(offset >= 0);
        return offset;
    }
    bool has(const std::string& path) const { return fdt_path_offset(blob.data(), path.c_str()) >= 0; }
    std::vector<std::uint8_t> prop(const std::string& path, const char* name) const
    {
        int length = 0;
        const void* p = fdt_getprop(blob.data(), node(path), name, &length);
        INFO(path << " " << name);
        REQUIRE(p != nullptr);
        auto* bytes = static_cast<const std::uint8_t*>(p);
        return { bytes, bytes + length };
    }
    // A string list joined with '|'.
    std::string str(const std::string& path, const char* name) const
    {
        std::vector<std::uint8_t> v = prop(path, name);
        std::string s(v.begin(), v.end());
        REQUIRE(!s.empty());
        REQUIRE(s.back() == '\0');
        s.pop_back();
        for (char& c : s)
            if (c == '\0')
                c = '|';
        return s;
    }
    std::vector<std::uint32_t> cells(const std::string& path, const char* name) const
    {
        std::vector<std::uint8_t> v = prop(path, name);
        REQUIRE(v.size() % 4 == 0);
        std::vector<std::uint32_t> out;
        for (std::size_t i = 0; i < v.size(); i += 4) {
            fdt32_t cell; // property values are only 4-byte aligned: copy, never cast
            std::memcpy(&cell, v.data() + i, sizeof cell);
            out.push_back(fdt32_to_cpu(cell));
        }
        return out;
    }
    std::uint32_t u32(const std::string& path, const char* name) const
    {
        auto c = cells(path, name);
        REQUIRE(c.size() == 1);
        return c[0];
    }
    // 64-bit values (2 cells each).
    std::vector<std::uint64_t> u64s(const std::string& path, const char* name) const
    {
        auto c = cells(path, name);
        REQUIRE(c.size() % 2 == 0);
        std::vector<std::uint64_t> out;
        for (std::size_t i = 0; i < c.size(); i += 2)
            out.push_back(std::uint64_t { c[i] } << 32 | c[i + 1]);
        return out;
    }
    bool empty_prop(const std::string& path, const char* name) const { return prop(path, name).empty(); }

    std::vector<std::uint8_t> blob;
};

DeviceTreeSpec two_cpus_one_device()
{
    return { .ram_size = 256 << 20,
        .vcpus = 2,
        .bootargs = "console=ttyS0 quiet",
        .initrd_address = 0x8f00'0000,
        .initrd_size = 0x12345,
        .virtio_devices = 1 };
}

} // namespace

TEST_CASE("device tree: root cells, interrupt parent, /chosen with bootargs, initrd and stdout-path")
{
    Tree t(two_cpus_one_device());
    CHECK(t.str("/", "compatible") == "linux,dummy-virt");
    CHECK(t.u32("/", "#address-cells") == 2);
    CHECK(t.u32("/", "#size-cells") == 2);
    CHECK(t.u32("/", "interrupt-parent") == kGicPhandle);
    CHECK(t.str("/chosen", "bootargs") == "console=ttyS0 quiet");
    CHECK(t.u64s("/chosen", "linux,initrd-start") == std::vector<std::uint64_t> { 0x8f00'0000 });
    CHECK(t.u64s("/chosen", "linux,initrd-end") == std::vector<std::uint64_t> { 0x8f01'2345 });
    CHECK(t.str("/chosen", "stdout-path") == "/uart@1000000");
    CHECK(uart_node_path() == "/uart@1000000");
}

TEST_CASE("device tree: no initrd properties without an initrd")
{
    DeviceTreeSpec spec = two_cpus_one_device();
    spec.initrd_size = 0;
    Tree t(spec);
    int chosen = t.node("/chosen");
    CHECK(fdt_getprop(t.blob.data(), chosen, "linux,initrd-start", nullptr) == nullptr);
    CHECK(fdt_getprop(t.blob.data(), chosen, "linux,initrd-end", nullptr) == nullptr);
}

TEST_CASE("device tree: /memory at 0x80000000 with the RAM size")
{
    Tree t(two_cpus_one_device());
    CHECK(t.str("/memory@80000000", "device_type") == "memory");
    CHECK(t.u64s("/memory@80000000", "reg") == std::vector<std::uint64_t> { kRamBase, 256 << 20 });
}

TEST_CASE("device tree: /cpus has one cpu@MPIDR per vCPU, started by PSCI")
{
    DeviceTreeSpec spec = two_cpus_one_device();
    spec.vcpus = 18;
    Tree t(spec);
    CHECK(t.u32("/cpus", "#address-cells") == 1);
    CHECK(t.u32("/cpus", "#size-cells") == 0);
    int count = 0;
    for (int n = fdt_first_subnode(t.blob.data(), t.node("/cpus")); n >= 0; n = fdt_next_subnode(t.blob.data(), n))
        ++count;
    CHECK(count == 18);
    for (unsigned i : { 0u, 1u, 15u, 16u, 17u }) {
        char path[32];
        std::snprintf(path, sizeof path, "/cpus/cpu@%llx", static_cast<unsigned long long>(mpidr_for_vcpu(i)));
        CHECK(t.str(path, "device_type") == "cpu");
        CHECK(t.str(path, "compatible") == "arm,arm-v8");
        CHECK(t.str(path, "enable-method") == "psci");
        CHECK(t.u32(path, "reg") == mpidr_for_vcpu(i));
    }
    CHECK(t.has("/cpus/cpu@101"));
    CHECK_FALSE(t.has("/cpus/cpu@102"));
    CHECK_FALSE(t.has("/cpus/cpu@10")); // vCPU 16 is cluster 1, not Aff0 16
}

TEST_CASE("device tree: /psci 0.2 over hvc")
{
    Tree t(two_cpus_one_device());
    CHECK(t.str("/psci", "compatible") == "arm,psci-0.2");
    CHECK(t.str("/psci", "method") == "hvc");
}

TEST_CASE("device tree: the GICv3 with distributor and one redistributor frame per vCPU, phandle 1")
{
    Tree t(two_cpus_one_device());
    const std::string gic = "/intc@8000000";
    CHECK(t.str(gic, "compatible") == "arm,gic-v3");
    CHECK(t.u32(gic, "#interrupt-cells") == 3);
    CHECK(t.empty_prop(gic, "interrupt-controller"));
    CHECK(t.u64s(gic, "reg")
        == std::vector<std::uint64_t> { kGicDistributorAddress, kGicDistributorSize, kGicRedistributorAddress, 2 * kGicRedistributorSizePerCpu });
    CHECK(t.u32(gic, "phandle") == kGicPhandle);
    CHECK(fdt_node_offset_by_phandle(t.blob.data(), kGicPhandle) == t.node(gic));
}

TEST_CASE("device tree: the architected timer's four PPIs, level high")
{
    Tree t(two_cpus_one_device());
    CHECK(t.str("/timer", "compatible") == "arm,armv8-timer");
    CHECK(t.cells("/timer", "interrupts") == std::vector<std::uint32_t> { 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4 });
    CHECK(t.empty_prop("/timer", "always-on"));
}

TEST_CASE("device tree: the 16550 UART on MMIO, byte registers, its SPI and clock")
{
    Tree t(two_cpus_one_device());
    const std::string uart = "/uart@1000000";
    CHECK(t.str(uart, "compatible") == "ns16550a");
    CHECK(t.u64s(uart, "reg") == std::vector<std::uint64_t> { kUartAddress, kUartSize });
    CHECK(t.cells(uart, "interrupts") == std::vector<std::uint32_t> { 0, kUartSpi, 4 });
    CHECK(t.u32(uart, "reg-shift") == 0);
    CHECK(t.u32(uart, "reg-io-width") == 1);
    CHECK(t.u32(uart, "clock-frequency") == 1'843'200);
}

TEST_CASE("device tree: one virtio,mmio node per device, 4 KiB apart, each with its own edge SPI")
{
    DeviceTreeSpec spec = two_cpus_one_device();
    spec.virtio_devices = 3;
    Tree t(spec);
    for (unsigned i = 0; i < 3; ++i) {
        std::uint64_t base = kVirtioMmioBase + i * kVirtioMmioSize;
        char path[40];
        std::snprintf(path, sizeof path, "/virtio_mmio@%llx", static_cast<unsigned long long>(base));
        CHECK(t.str(path, "compatible") == "virtio,mmio");
        CHECK(t.u64s(path, "reg") == std::vector<std::uint64_t> { base, kVirtioMmioSize });
        CHECK(t.cells(path, "interrupts") == std::vector<std::uint32_t> { 0, kVirtioFirstSpi + i, 1 });
        CHECK(t.empty_prop(path, "dma-coherent"));
    }
    CHECK_FALSE(t.has("/virtio_mmio@2003000"));
    spec.virtio_devices = 0;
    Tree none(spec);
    CHECK_FALSE(none.has("/virtio_mmio@2000000"));
}

TEST_CASE("device tree: a command line too long for the 2 MiB limit is refused, a long one fits")
{
    DeviceTreeSpec spec = two_cpus_one_device();
    spec.bootargs.assign(100'000, 'x');
    Tree t(spec);
    CHECK(t.str("/chosen", "bootargs").size() == 100'000);
    spec.bootargs.assign(kDeviceTreeMax, 'x');
    CHECK_THROWS_AS(build_device_tree(spec), std::exception);
}
