/* tests/guests/probe-arm64/probe.S — the arm64 user-mode probe: a tiny "kernel" in the arm64 Image
 * format that qt-vmm embeds and boots for `host-check` (vmm/enclave/host_quirks.cc), the arm64 twin
 * of the x86 probe guest's usermode mode (tests/guests/probe). It answers one question: does this
 * KVM run guest user mode (EL0) — an eret to EL0, a load there, an svc that traps to the EL1
 * vector with the right syndrome, and the eret back to EL0 with the register the handler changed?
 *
 * Entered as booting.rst says (EL1, MMU and caches off, x0 = the device tree), position
 * independent (adr only). Prints one line on the 16550 at 0x0100_0000 (vmm/arch/arm64/layout.h):
 *   PROBE usermode=ok el0 svc and eret
 *   PROBE usermode=broken <what> esr=<hex>
 * then powers off with PSCI SYSTEM_OFF (hvc). Build: tests/guests/probe-arm64/module.mk. */

#define UART_BASE 0x01000000
#define PSCI_SYSTEM_OFF 0x84000008
#define SVC_FIRST 0x51
#define SVC_SECOND 0x52
#define ESR_EC_SVC64 0x15
#define X0_TOKEN 0x5154

    .text                           /* the header first: objcopy's output starts here */
    .globl _head
_head:
    b       start                   /* code0 */
    .word   0                       /* code1 */
    .quad   0                       /* text_offset */
    .quad   _image_end - _head      /* image_size */
    .quad   0xa                     /* flags: little-endian, 4 KiB pages, placement anywhere */
    .quad   0, 0, 0                 /* res2..res4 */
    .ascii  "ARM\x64"               /* magic */
    .word   0                       /* res5 */

start:
    adr     x1, stack_el1_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    /* EL0: the code below, on its own stack, interrupts masked. */
    adr     x1, el0_code
    msr     elr_el1, x1
    adr     x1, stack_el0_top
    msr     sp_el0, x1
    mov     x1, #0x3c0              /* EL0t, D A I F masked */
    msr     spsr_el1, x1
    mov     x0, #X0_TOKEN
    mov     x19, #0                 /* svcs seen */
    eret

/* EL0: load a word, make the first svc, check what came back, make the second. */
el0_code:
    adr     x2, el0_data
    ldr     w3, [x2]                /* a load at EL0 */
    mov     x0, #X0_TOKEN
    svc     #SVC_FIRST
    add     x0, x0, x3              /* the handler added 1; x3 = 0 */
    svc     #SVC_SECOND
1:  b       1b                      /* not reached: the second svc powers off */

    .balign 2048
vectors:                            /* 16 entries of 0x80 bytes */
    .rept 8                         /* current EL with SP_EL0, then SP_ELx: sync, irq, fiq, serror */
    .balign 0x80
    b       unexpected
    .endr
    .balign 0x80                    /* lower EL, AArch64: sync — the svc */
    b       from_el0
    .rept 7                         /* lower EL, AArch64: irq, fiq, serror; lower EL, AArch32: all */
    .balign 0x80
    b       unexpected
    .endr
    .balign 0x80

from_el0:
    mrs     x20, esr_el1
    lsr     x21, x20, #26
    cmp     x21, #ESR_EC_SVC64
    b.ne    bad_syndrome
    and     x21, x20, #0xffff       /* the svc immediate */
    mrs     x22, spsr_el1
    and     x22, x22, #0xf
    cbnz    x22, bad_spsr           /* it came from EL0t */
    add     x19, x19, #1
    cmp     x19, #1
    b.ne    second
    cmp     x21, #SVC_FIRST
    b.ne    bad_syndrome
    mov     x23, #X0_TOKEN
    cmp     x0, x23
    b.ne    bad_register
    add     x0, x0, #1
    eret                            /* back to EL0, after the svc */
second:
    cmp     x21, #SVC_SECOND
    b.ne    bad_syndrome
    mov     x23, #(X0_TOKEN + 1)
    cmp     x0, x23
    b.ne    bad_register
    adr     x0, msg_ok
    bl      puts
    b       power_off

bad_syndrome:
    adr     x0, msg_syndrome
    b       report_broken
bad_spsr:
    adr     x0, msg_spsr
    b       report_broken
bad_register:
    adr     x0, msg_register
    b       report_broken
unexpected:
    mrs     x20, esr_el1
    adr     x0, msg_unexpected
report_broken:
    adr     x1, stack_el1_top       /* any EL1 state: start from a known stack */
    mov     sp, x1
    bl      puts
    adr     x0, msg_esr
    bl      puts
    mov     x0, x20
    bl      put_hex
    adr     x0, msg_newline
    bl      puts
power_off:
    movz    x0, #(PSCI_SYSTEM_OFF & 0xffff)
    movk    x0, #(PSCI_SYSTEM_OFF >> 16), lsl #16
    hvc     #0
2:  wfi
    b       2b

/* puts(x0 = NUL-terminated string); clobbers x0, x1, x2. */
puts:
    mov     x1, #UART_BASE
3:  ldrb    w2, [x0], #1
    cbz     w2, 4f
    strb    w2, [x1]
    b       3b
4:  ret

/* put_hex(x0): 16 hex digits; clobbers x0..x4. */
put_hex:
    mov     x1, #UART_BASE
    mov     x3, #60
5:  lsr     x2, x0, x3
    and     x2, x2, #0xf
    cmp     x2, #10
    add     x4, x2, #'0'
    add     x2, x2, #('a' - 10)
    csel    x2, x4, x2, lt
    strb    w2, [x1]
    subs    x3, x3, #4
    b.ge    5b
    ret

    .section .rodata
    .balign 8
el0_data:
    .word   0
msg_ok:         .asciz "PROBE usermode=ok el0 svc and eret\n"
msg_syndrome:   .asciz "PROBE usermode=broken the svc from EL0 trapped with a wrong syndrome or immediate"
msg_spsr:       .asciz "PROBE usermode=broken the svc did not come from EL0t"
msg_register:   .asciz "PROBE usermode=broken x0 did not survive the svc and eret"
msg_unexpected: .asciz "PROBE usermode=broken an unexpected exception"
msg_esr:        .asciz " esr="
msg_newline:    .asciz "\n"

    .bss
    .balign 16
stack_el1:  .space 1024
stack_el1_top:
stack_el0:  .space 1024
stack_el0_top:
    .balign 4096
_image_end:
