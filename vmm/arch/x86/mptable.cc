#include "vmm/arch/x86/mptable.h"

#include "base/error.h"
#include "vmm/arch/x86/layout.h"

#include <cstring>

namespace vmm::x86 {

namespace {

constexpr unsigned kIoapicPins = 24;

class Writer {
public:
    void u8(std::uint8_t v) { m_bytes.push_back(v); }
    void u16(std::uint16_t v) { append(&v, 2); }
    void u32(std::uint32_t v) { append(&v, 4); }
    void text(const char* s, std::size_t width)
    {
        std::size_t n = std::strlen(s);
        for (std::size_t i = 0; i < width; ++i)
            u8(i < n ? static_cast<std::uint8_t>(s[i]) : ' ');
    }
    void append(const void* p, std::size_t n)
    {
        auto* b = static_cast<const std::uint8_t*>(p);
        m_bytes.insert(m_bytes.end(), b, b + n);
    }
    std::vector<std::uint8_t>& bytes() { return m_bytes; }

private:
    std::vector<std::uint8_t> m_bytes;
};

std::uint8_t checksum(const std::uint8_t* p, std::size_t n)
{
    std::uint8_t sum = 0;
    for (std::size_t i = 0; i < n; ++i)
        sum = static_cast<std::uint8_t>(sum + p[i]);
    return static_cast<std::uint8_t>(-sum);
}

} // namespace

std::vector<std::uint8_t> build_mp_table(std::uint64_t address, unsigned vcpu_count)
{
    if (vcpu_count == 0 || vcpu_count > 254)
        throw base::Error(base::ErrorKind::InvalidInput, "MPTABLE_CPUS", "the MP table holds 1 to 254 CPUs");
    const std::uint8_t ioapic_id = static_cast<std::uint8_t>(vcpu_count);

    Writer table;
    // Configuration table header; length, entry count and checksum are patched below.
    table.text("PCMP", 4);
    table.u16(0);
    table.u8(4);
    table.u8(0);
    table.text("QTVMM", 8);
    table.text("ENCLAVE", 12);
    table.u32(0);
    table.u16(0);
    table.u16(0);
    table.u32(static_cast<std::uint32_t>(kLapicAddress));
    table.u16(0);
    table.u8(0);
    table.u8(0);
    std::uint16_t entries = 0;

    for (unsigned cpu = 0; cpu < vcpu_count; ++cpu) {
        table.u8(0);                                  // processor
        table.u8(static_cast<std::uint8_t>(cpu));     // local APIC id
        table.u8(0x14);                               // local APIC version
        table.u8(cpu == 0 ? 0x3 : 0x1);               // enabled (+ bootstrap processor)
        table.u32(0x600);                             // CPU signature: family 6
        table.u32(0x201);                             // features: FPU, APIC
        table.u32(0);
        table.u32(0);
        ++entries;
    }
    table.u8(1); // bus
    table.u8(0);
    table.text("ISA", 6);
    ++entries;
    table.u8(2); // IOAPIC
    table.u8(ioapic_id);
    table.u8(0x11);
    table.u8(1);
    table.u32(static_cast<std::uint32_t>(kIoapicAddress));
    ++entries;
    for (unsigned pin = 0; pin < kIoapicPins; ++pin) {
        table.u8(3);                                  // I/O interrupt assignment
        table.u8(0);                                  // INT
        table.u16(0);                                 // conforming polarity and trigger
        table.u8(0);                                  // source bus: ISA
        table.u8(static_cast<std::uint8_t>(pin));     // source IRQ
        table.u8(ioapic_id);
        table.u8(static_cast<std::uint8_t>(pin));     // IOAPIC input
        ++entries;
    }
    const std::uint8_t local_types[2][2] = { { 3 /* ExtINT */, 0 }, { 1 /* NMI */, 1 } };
    for (const auto& local : local_types) {
        table.u8(4);                                  // local interrupt assignment
        table.u8(local[0]);
        table.u16(0);
        table.u8(0);
        table.u8(0);
        table.u8(0xff);                               // every local APIC
        table.u8(local[1]);                           // LINT0 / LINT1
        ++entries;
    }
    auto& t = table.bytes();
    std::uint16_t length = static_cast<std::uint16_t>(t.size());
    std::memcpy(&t[4], &length, 2);
    std::memcpy(&t[34], &entries, 2);
    t[7] = checksum(t.data(), t.size());

    Writer out;
    out.text("_MP_", 4);
    out.u32(static_cast<std::uint32_t>(address + 16));
    out.u8(1);
    out.u8(4);
    out.u8(0);
    for (int i = 0; i < 5; ++i)
        out.u8(0);
    auto& f = out.bytes();
    f[10] = checksum(f.data(), 16);
    f.insert(f.end(), t.begin(), t.end());
    return f;
}

void write_mp_table(GuestMemory& ram, std::uint64_t address, unsigned vcpu_count)
{
    std::vector<std::uint8_t> bytes = build_mp_table(address, vcpu_count);
    ram.write(address, bytes.data(), bytes.size());
}

} // namespace vmm::x86
