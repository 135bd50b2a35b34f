#include "vmm/devices/serial_16550.h"

#include <algorithm>

namespace vmm {

namespace {

enum Register : std::uint16_t { Data = 0, Ier = 1, IirFcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7 };
constexpr std::uint8_t kLcrDlab = 0x80;
constexpr std::uint8_t kIerThri = 0x02;
constexpr std::uint8_t kMcrLoop = 0x10;
constexpr std::uint8_t kFcrEnable = 0x01;
constexpr std::uint8_t kIirNoInterrupt = 0x01;
constexpr std::uint8_t kIirThri = 0x02;
constexpr std::uint8_t kIirFifoBits = 0xc0;
constexpr std::uint8_t kLsrThre = 0x20;
constexpr std::uint8_t kLsrTemt = 0x40;
constexpr std::uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

} // namespace

Serial16550::Serial16550(IrqLine irq, Sink sink)
    : m_irq(std::move(irq))
    , m_sink(std::move(sink))
{
}

void Serial16550::port_read(std::uint16_t offset, std::uint8_t* data, std::size_t size)
{
    std::lock_guard guard(m_lock);
    for (std::size_t i = 0; i < size; ++i)
        data[i] = offset + i < 8 ? read_register(static_cast<std::uint16_t>(offset + i)) : 0xff;
    update_irq();
}

void Serial16550::port_write(std::uint16_t offset, const std::uint8_t* data, std::size_t size)
{
    std::lock_guard guard(m_lock);
    for (std::size_t i = 0; i < size; ++i) {
        if (offset + i < 8)
            write_register(static_cast<std::uint16_t>(offset + i), data[i]);
    }
    update_irq();
}

void Serial16550::mmio_read(std::uint64_t offset, std::uint8_t* data, std::size_t size)
{
    port_read(static_cast<std::uint16_t>(std::min<std::uint64_t>(offset, 8)), data, size);
}

void Serial16550::mmio_write(std::uint64_t offset, const std::uint8_t* data, std::size_t size)
{
    port_write(static_cast<std::uint16_t>(std::min<std::uint64_t>(offset, 8)), data, size);
}

std::uint8_t Serial16550::read_register(std::uint16_t offset)
{
    bool dlab = m_lcr & kLcrDlab;
    switch (offset) {
    case Data:
        return dlab ? m_dll : 0;
    case Ier:
        return dlab ? m_dlm : m_ier;
    case IirFcr: {
        std::uint8_t fifo = (m_fcr & kFcrEnable) ? kIirFifoBits : 0;
        if ((m_ier & kIerThri) && m_thr_empty_pending) {
            m_thr_empty_pending = false; // reading IIR acknowledges THR-empty
            return fifo | kIirThri;
        }
        return fifo | kIirNoInterrupt;
    }
    case Lcr:
        return m_lcr;
    case Mcr:
        return m_mcr;
    case Lsr:
        return kLsrThre | kLsrTemt;
    case Msr:
        if (m_mcr & kMcrLoop) {
            // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (the 8250 probe checks this).
            std::uint8_t v = 0;
            if (m_mcr & 0x01)
                v |= kMsrDsr;
            if (m_mcr & 0x02)
                v |= kMsrCts;
            if (m_mcr & 0x04)
                v |= kMsrRi;
            if (m_mcr & 0x08)
                v |= kMsrDcd;
            return v;
        }
        return kMsrDcd | kMsrDsr | kMsrCts;
    case Scr:
        return m_scr;
    }
    return 0xff;
}

void Serial16550::write_register(std::uint16_t offset, std::uint8_t value)
{
    bool dlab = m_lcr & kLcrDlab;
    switch (offset) {
    case Data:
        if (dlab) {
            m_dll = value;
        } else {
            if (!(m_mcr & kMcrLoop)) {
                ++m_bytes;
                if (m_sink)
                    m_sink(value);
            }
            m_thr_empty_pending = true; // transmitted at once
        }
        break;
    case Ier:
        if (dlab) {
            m_dlm = value;
        } else {
            if ((value & kIerThri) && !(m_ier & kIerThri))
                m_thr_empty_pending = true;
            m_ier = value & 0x0f;
        }
        break;
    case IirFcr:
        m_fcr = value & 0xc9;
        break;
    case Lcr:
        m_lcr = value;
        break;
    case Mcr:
        m_mcr = value & 0x1f;
        break;
    case Scr:
        m_scr = value;
        break;
    default:
        break; // LSR and MSR are read-only
    }
}

void Serial16550::update_irq()
{
    bool level = (m_ier & kIerThri) && m_thr_empty_pending;
    if (level != m_irq_level) {
        m_irq_level = level;
        if (m_irq)
            m_irq(level);
    }
}

} // namespace vmm
