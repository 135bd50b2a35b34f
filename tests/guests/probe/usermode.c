/* tests/guests/probe/usermode.c — probe.mode=usermode: can this CPU/VMM run guest ring 3?
 *
 * Sets EFER.SCE, STAR, LSTAR (entry.S syscall_entry) and SFMASK, enters ring 3 with iretq and runs
 * entry.S user_code: `syscall` (request 1) then, after sysretq brought it back, `syscall`
 * (request 2). A correct CPU enters syscall_entry at CPL 0: request 1 prints
 * `PROBE usermode_syscall cpl=0`, request 2 prints `PROBE usermode=ok` and powers off. The broken
 * nested KVM enters it still at CPL 3; syscall_entry then executes `hlt`, whose #GP reaches the
 * exception handler at CPL 0, which prints `PROBE usermode=broken reason=syscall-at-cpl3` and
 * powers off. Any other exception prints `PROBE usermode=broken reason=exception`. */
#include "probe.h"

#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084

uint64_t g_user_rsp;
uint32_t g_syscall_cs, g_syscall_at_cpl3;
static uint8_t user_stack[4096] __attribute__((aligned(16), section(".noinit")));

void syscall_handler(uint32_t request, uint32_t cs)
{
    if (request == 1) {
        print("PROBE usermode_syscall cs=0x%x cpl=%u\n", cs, cs & 3);
        return;
    }
    if (request == 2) {
        print("PROBE usermode=ok\n");
        power_off();
    }
    print("PROBE usermode=broken reason=bad-request request=%u\n", request);
    power_off();
}

static int usermode_exception(struct ExceptionFrame *f)
{
    if (g_syscall_at_cpl3)
        print("PROBE usermode=broken reason=syscall-at-cpl3 cs=0x%x\n", g_syscall_cs);
    else
        print("PROBE usermode=broken reason=exception vector=%lu cs=0x%lx\n", f->vector, f->cs);
    return 1;
}

void mode_usermode(void)
{
    g_exception_hook = usermode_exception;
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1); /* SCE */
    /* SYSCALL: CS = 0x08, SS = 0x10. SYSRET (64-bit): CS = 0x18 + 16 = 0x28, SS = 0x18 + 8 = 0x20. */
    wrmsr(MSR_STAR, (0x18ull << 48) | ((uint64_t)SEL_KCODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_SFMASK, 0x47700); /* TF, IF, DF, IOPL, NT, AC cleared on entry */
    print("PROBE usermode_enter cs=0x%x\n", SEL_UCODE | 3);
    enter_user_mode((uint64_t)user_code, (uint64_t)(user_stack + sizeof user_stack), SEL_UCODE | 3,
                    SEL_UDATA | 3);
}
