#include "vmm/devices/console_buffer.h"
#include "vmm/devices/io_bus.h"
#include "vmm/devices/legacy_ports.h"
#include "vmm/devices/serial_16550.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace vmm;

namespace {

struct SerialHarness {
    std::vector<bool> irq_changes;
    std::string output;
    Serial16550 uart { [this](bool level) { irq_changes.push_back(level); }, [this](std::uint8_t b) { output.push_back(static_cast<char>(b)); } };
    std::uint8_t in(std::uint16_t reg)
    {
        std::uint8_t v = 0;
        uart.port_read(reg, &v, 1);
        return v;
    }
    void out(std::uint16_t reg, std::uint8_t v) { uart.port_write(reg, &v, 1); }
};

} // namespace

TEST_CASE("16550: registers the 8250 driver probes read back")
{
    SerialHarness s;
    s.out(3, 0x80); // DLAB
    s.out(0, 0x01);
    s.out(1, 0x00);
    CHECK(s.in(0) == 0x01);
    CHECK(s.in(1) == 0x00);
    s.out(3, 0x03);
    CHECK(s.in(3) == 0x03);
    s.out(7, 0x5a);
    CHECK(s.in(7) == 0x5a);
    s.out(1, 0x0f);
    CHECK(s.in(1) == 0x0f);
    s.out(4, 0x10 | 0x0a); // loopback with OUT2 and RTS: MSR must show DCD and CTS
    CHECK((s.in(6) & 0xf0) == 0x90);
    s.out(4, 0x0b);
    CHECK((s.in(6) & 0xb0) == 0xb0);
    CHECK(s.in(5) == 0x60); // transmitter empty, never data ready
    s.out(2, 0x01);         // FIFO on: 16550A identification bits
    CHECK((s.in(2) & 0xc0) == 0xc0);
}

TEST_CASE("16550: output reaches the sink and THR-empty interrupts follow IER")
{
    SerialHarness s;
    s.out(0, 'h');
    s.out(0, 'i');
    CHECK(s.output == "hi");
    CHECK(s.uart.bytes_written() == 2);
    CHECK(s.irq_changes.empty()); // THRI not enabled
    s.out(1, 0x02);               // enable THRI: the transmitter is empty, so the line rises
    REQUIRE(s.irq_changes.size() == 1);
    CHECK(s.irq_changes.back() == true);
    CHECK((s.in(2) & 0x0f) == 0x02); // IIR reports THRI and acknowledges it
    CHECK(s.irq_changes.back() == false);
    CHECK((s.in(2) & 0x0f) == 0x01); // nothing pending now
    s.out(0, '!');                   // transmitted at once: pending again
    CHECK(s.irq_changes.back() == true);
    s.out(1, 0x00);
    CHECK(s.irq_changes.back() == false);
    // Loopback output is not console output.
    s.out(4, 0x10);
    s.out(0, 'x');
    CHECK(s.output == "hi!");
}

TEST_CASE("16550 on MMIO (arm64): the same registers at byte offsets 0..7 through the bus, the rest 0xff")
{
    SerialHarness s;
    IoBus bus;
    bus.add_mmio(0x0100'0000, 0x1000, &s.uart);
    std::uint8_t v = 0x03;
    bus.mmio_write(0x0100'0003, &v, 1); // LCR
    v = 0;
    bus.mmio_read(0x0100'0003, &v, 1);
    CHECK(v == 0x03);
    CHECK(s.in(3) == 0x03); // one device, two ways in
    bus.mmio_read(0x0100'0005, &v, 1);
    CHECK(v == 0x60); // LSR: transmitter empty, never data ready
    for (char c : std::string("ok"))
        bus.mmio_write(0x0100'0000, reinterpret_cast<const std::uint8_t*>(&c), 1);
    CHECK(s.output == "ok");
    bus.mmio_read(0x0100'0100, &v, 1);
    CHECK(v == 0xff);
    v = 'x';
    bus.mmio_write(0x0100'0ff8, &v, 1);
    CHECK(s.output == "ok");
    std::uint8_t wide[4] = {};
    bus.mmio_read(0x0100'0006, wide, 4); // MSR, SCR, then past the registers
    CHECK(wide[2] == 0xff);
    CHECK(wide[3] == 0xff);
    CHECK(bus.unclaimed_accesses() == 0);
}

TEST_CASE("console buffer: bounded, replays by position, reports what was lost")
{
    ConsoleBuffer c(8);
    std::string all = "0123456789abc";
    c.append(reinterpret_cast<const std::uint8_t*>(all.data()), all.size());
    std::string out;
    std::uint64_t lost = 0;
    std::uint64_t end = c.read(0, out, lost);
    CHECK(end == 13);
    CHECK(lost == 5);
    CHECK(out == "56789abc");
    out.clear();
    CHECK(c.read(10, out, lost) == 13);
    CHECK(lost == 0);
    CHECK(out == "abc");
    out.clear();
    CHECK(c.read(99, out, lost) == 13);
    CHECK(out.empty());
}

TEST_CASE("io bus: devices get relative offsets, unclaimed accesses read all ones")
{
    struct Recorder : PortDevice, MmioDevice {
        std::uint64_t last_offset = 0;
        std::size_t last_size = 0;
        void port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size) override
        {
            last_offset = offset;
            last_size = size;
            for (std::size_t i = 0; i < size; ++i)
                data[i] = 0x11;
        }
        void port_write(std::uint16_t offset, const std::uint8_t*, std::size_t size) override
        {
            last_offset = offset;
            last_size = size;
        }
        void mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size) override
        {
            last_offset = offset;
            last_size = size;
            for (std::size_t i = 0; i < size; ++i)
                data[i] = 0x22;
        }
        void mmio_write(std::uint64_t offset, const std::uint8_t*, std::size_t size) override
        {
            last_offset = offset;
            last_size = size;
        }
    } dev;
    IoBus bus;
    bus.add_ports(0x3f8, 8, &dev);
    bus.add_mmio(0xd0000000, 0x1000, &dev);
    std::uint8_t b[8] = {};
    bus.port_read(0x3fd, b, 1);
    CHECK(dev.last_offset == 5);
    CHECK(b[0] == 0x11);
    bus.port_read(0x3ff, b, 2); // crosses the end of the range: unclaimed
    CHECK(b[0] == 0xff);
    bus.mmio_read(0xd0000ffc, b, 4);
    CHECK(dev.last_offset == 0xffc);
    CHECK(b[0] == 0x22);
    bus.mmio_read(0xd0000ffe, b, 4); // straddles the end
    CHECK(b[0] == 0xff);
    bus.mmio_write(0xffff'ffff'ffff'fffcull, b, 8); // wraps around: must not match anything
    CHECK(bus.unclaimed_accesses() == 3);
}

TEST_CASE("CMOS clock: never 'update in progress', BCD time, NVRAM read back")
{
    CmosClock cmos;
    CHECK((cmos.read_register(0x0a) & 0x80) == 0);
    std::uint8_t sec = cmos.read_register(0x00);
    CHECK((sec & 0x0f) <= 9);
    CHECK((sec >> 4) <= 5);
    std::uint8_t index = 0x20, value = 0x42, got = 0;
    cmos.port_write(0, &index, 1);
    cmos.port_write(1, &value, 1);
    cmos.port_read(1, &got, 1);
    CHECK(got == 0x42);
}

TEST_CASE("keyboard controller: only 0xFE to port 0x64 resets")
{
    int resets = 0;
    KeyboardResetPort kbd([&] { ++resets; });
    std::uint8_t v = 0xfe;
    kbd.port_write(0, &v, 1); // port 0x60
    CHECK(resets == 0);
    v = 0xd1;
    kbd.port_write(4, &v, 1);
    CHECK(resets == 0);
    v = 0xfe;
    kbd.port_write(4, &v, 1);
    CHECK(resets == 1);
    std::uint8_t status = 0xff;
    kbd.port_read(4, &status, 1);
    CHECK(status == 0); // idle: the kernel's kb_wait() returns at once
}
