#include "vmm/arch/arm64/device_tree.h"

#include "base/error.h"
#include "vmm/arch/arm64/layout.h"

#include <cstdio>
#include <initializer_list>

#include <libfdt.h>

namespace vmm::arm64 {

namespace {

// GIC interrupt specifier cells (bindings/interrupt-controller/arm,gic-v3.yaml).
constexpr std::uint32_t kSpi = 0, kPpi = 1;
constexpr std::uint32_t kEdgeRising = 1, kLevelHigh = 4;

std::string node_name(const char* base, std::uint64_t address)
{
    char text[64];
    std::snprintf(text, sizeof text, "%s@%llx", base, static_cast<unsigned long long>(address));
    return text;
}

// Sequential-write FDT builder over a growable buffer: every libfdt error throws; when the
// buffer is too small the whole tree is built again in a larger one (build_device_tree).
class Writer {
public:
    explicit Writer(std::vector<std::uint8_t>& buffer)
        : m_fdt(buffer.data())
    {
        check(fdt_create(m_fdt, static_cast<int>(buffer.size())), "fdt_create");
        check(fdt_finish_reservemap(m_fdt), "fdt_finish_reservemap");
    }
    void begin(const std::string& name) { check(fdt_begin_node(m_fdt, name.c_str()), "fdt_begin_node"); }
    void end() { check(fdt_end_node(m_fdt), "fdt_end_node"); }
    void string(const char* name, const std::string& value) { check(fdt_property_string(m_fdt, name, value.c_str()), name); }
    void empty(const char* name) { check(fdt_property(m_fdt, name, nullptr, 0), name); }
    void u32(const char* name, std::uint32_t value) { check(fdt_property_u32(m_fdt, name, value), name); }
    void u64(const char* name, std::uint64_t value) { check(fdt_property_u64(m_fdt, name, value), name); }
    // A property of big-endian 32-bit cells.
    void cells(const char* name, std::initializer_list<std::uint32_t> values)
    {
        std::vector<fdt32_t> be;
        for (std::uint32_t v : values)
            be.push_back(cpu_to_fdt32(v));
        check(fdt_property(m_fdt, name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))), name);
    }
    // reg / interrupts as 2-cell (64-bit) address and size pairs.
    void reg(std::initializer_list<std::uint64_t> address_size_pairs)
    {
        std::vector<fdt64_t> be;
        for (std::uint64_t v : address_size_pairs)
            be.push_back(cpu_to_fdt64(v));
        check(fdt_property(m_fdt, "reg", be.data(), static_cast<int>(be.size() * sizeof(fdt64_t))), "reg");
    }
    void finish() { check(fdt_finish(m_fdt), "fdt_finish"); }

    static void check(int result, const char* what)
    {
        if (result == -FDT_ERR_NOSPACE)
            throw NoSpace {};
        if (result < 0)
            throw base::Error(base::ErrorKind::Internal, "DEVICE_TREE", std::string("libfdt: ") + what + ": " + fdt_strerror(result));
    }
    struct NoSpace { };

private:
    void* m_fdt;
};

void write_tree(Writer& w, const DeviceTreeSpec& spec)
{
    w.begin("");
    w.string("compatible", "linux,dummy-virt");
    w.string("model", "qt-vmm enclave");
    w.u32("#address-cells", 2);
    w.u32("#size-cells", 2);
    w.u32("interrupt-parent", kGicPhandle);

    w.begin("chosen");
    w.string("bootargs", spec.bootargs);
    w.string("stdout-path", uart_node_path());
    if (spec.initrd_size) {
        w.u64("linux,initrd-start", spec.initrd_address);
        w.u64("linux,initrd-end", spec.initrd_address + spec.initrd_size);
    }
    w.end();

    w.begin(node_name("memory", kRamBase));
    w.string("device_type", "memory");
    w.reg({ kRamBase, spec.ram_size });
    w.end();

    w.begin("cpus");
    w.u32("#address-cells", 1);
    w.u32("#size-cells", 0);
    for (unsigned i = 0; i < spec.vcpus; ++i) {
        std::uint64_t mpidr = mpidr_for_vcpu(i);
        w.begin(node_name("cpu", mpidr));
        w.string("device_type", "cpu");
        w.string("compatible", "arm,arm-v8");
        w.string("enable-method", "psci");
        w.u32("reg", static_cast<std::uint32_t>(mpidr));
        w.end();
    }
    w.end();

    w.begin("psci");
    w.string("compatible", "arm,psci-0.2");
    w.string("method", "hvc");
    w.end();

    w.begin(node_name("intc", kGicDistributorAddress));
    w.string("compatible", "arm,gic-v3");
    w.u32("#interrupt-cells", 3);
    w.empty("interrupt-controller");
    w.reg({ kGicDistributorAddress, kGicDistributorSize, kGicRedistributorAddress, kGicRedistributorSizePerCpu * spec.vcpus });
    w.u32("phandle", kGicPhandle);
    w.end();

    w.begin("timer");
    w.string("compatible", "arm,armv8-timer");
    w.cells("interrupts", { kPpi, kTimerPpis[0], kLevelHigh, kPpi, kTimerPpis[1], kLevelHigh, kPpi, kTimerPpis[2], kLevelHigh, kPpi,
                              kTimerPpis[3], kLevelHigh });
    w.empty("always-on");
    w.end();

    w.begin(node_name("uart", kUartAddress));
    w.string("compatible", "ns16550a");
    w.reg({ kUartAddress, kUartSize });
    w.cells("interrupts", { kSpi, kUartSpi, kLevelHigh });
    w.u32("clock-frequency", kUartClockHz);
    w.u32("reg-shift", 0);
    w.u32("reg-io-width", 1);
    w.end();

    for (unsigned i = 0; i < spec.virtio_devices; ++i) {
        std::uint64_t base = kVirtioMmioBase + i * kVirtioMmioSize;
        w.begin(node_name("virtio_mmio", base));
        w.string("compatible", "virtio,mmio");
        w.reg({ base, kVirtioMmioSize });
        w.cells("interrupts", { kSpi, kVirtioFirstSpi + i, kEdgeRising });
        w.empty("dma-coherent");
        w.end();
    }

    w.end();
    w.finish();
}

} // namespace

std::string uart_node_path() { return "/" + node_name("uart", kUartAddress); }

std::vector<std::uint8_t> build_device_tree(const DeviceTreeSpec& spec)
{
    for (std::size_t size = 16 << 10; size <= kDeviceTreeMax; size *= 2) {
        std::vector<std::uint8_t> blob(size);
        try {
            Writer w(blob);
            write_tree(w, spec);
        } catch (const Writer::NoSpace&) {
            continue;
        }
        blob.resize(fdt_totalsize(blob.data()));
        return blob;
    }
    throw base::Error(base::ErrorKind::InvalidInput, "DEVICE_TREE",
        "the device tree would exceed 2 MiB (the arm64 boot protocol's limit); shorten the kernel command line");
}

} // namespace vmm::arm64
