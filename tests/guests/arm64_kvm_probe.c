/* tests/guests/arm64_kvm_probe.c — proves that an arm64 /dev/kvm runs guests, guest user mode
 * (EL0) included. Cross-built static (make ARCH=arm64: build/arm64/guest/arm64_kvm_probe) and
 * run inside the arm64 nested L1 by tests/integration/arm64_l1_kvm.sh (tests/nested/l1.sh --arch
 * arm64).
 *
 * It makes a VM with an in-kernel GICv3 (distributor and redistributors placed, initialized
 * after the vCPU as a VMM does) and one vCPU (KVM_ARM_VCPU_INIT with the preferred target and
 * PSCI 0.2), maps one page of the guest code below at GUEST_BASE and runs it at EL1 with the MMU
 * off. The guest
 *   1. writes MMIO_MAGIC to MMIO_BASE (no memory there: an MMIO exit with the data),
 *   2. reads the virtual counter before and after a short loop and writes the difference to
 *      MMIO_BASE+32 and CNTFRQ_EL0 to MMIO_BASE+40 (the arch timer counts),
 *   3. erets to EL0 code that issues `svc #SVC_IMM`, which traps back to its EL1 vector; the
 *      handler writes ESR_EL1 to MMIO_BASE+8 and SPSR_EL1 to MMIO_BASE+16,
 *   4. calls PSCI SYSTEM_OFF with hvc (a SYSTEM_EVENT shutdown exit).
 * Any other EL1 exception writes its ESR to MMIO_BASE+24 and powers off. Each check prints one
 * `ARM64-PROBE name=ok|FAILED ...` line; the exit status is 0 only when all passed (1 when a
 * check failed, 2 when KVM itself could not be set up). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_BASE 0x40000000ull
#define GUEST_SIZE 0x10000ull
#define MMIO_BASE 0x10000000ull
#define MMIO_MAGIC 0x5154564du /* "QTVM" */
#define SVC_IMM 0x51
#define ESR_EC_SVC64 0x15
#define PSCI_SYSTEM_OFF 0x84000008u
#define GICD_BASE 0x08000000ull /* where QEMU's virt machine has them */
#define GICR_BASE 0x080a0000ull

/* The guest: position independent (adr only), vector table 2 KiB aligned at its start. */
__asm__(
    ".pushsection .rodata.guest, \"a\"\n"
    ".balign 2048\n"
    ".globl guest_code\n"
    "guest_code:\n"
    /* VBAR_EL1 + 0x000: the entry (the table's first slot, current EL with SP_EL0, is unused
     * since we run on SP_EL1); jump over the table. */
    "  b 1f\n"
    ".balign 0x200\n" /* current EL with SP_ELx, synchronous: unexpected */
    "  mrs x3, esr_el1\n"
    "  str w3, [x1, #24]\n"
    "  b 3f\n"
    ".balign 0x400\n" /* lower EL using AArch64, synchronous: the svc from EL0 */
    "  mrs x3, esr_el1\n"
    "  str w3, [x1, #8]\n"
    "  mrs x4, spsr_el1\n"
    "  str w4, [x1, #16]\n"
    "  b 3f\n"
    ".balign 0x800\n"
    "1:\n"
    "  movz x1, #0x1000, lsl #16\n" /* MMIO_BASE */
    "  movz w2, #0x564d\n"
    "  movk w2, #0x5154, lsl #16\n" /* MMIO_MAGIC */
    "  str w2, [x1]\n"
    "  mrs x6, cntvct_el0\n"
    "  mov x8, #10000\n"
    "4: subs x8, x8, #1\n"
    "  b.ne 4b\n"
    "  isb\n"
    "  mrs x7, cntvct_el0\n"
    "  sub x7, x7, x6\n"
    "  str w7, [x1, #32]\n"
    "  mrs x9, cntfrq_el0\n"
    "  str w9, [x1, #40]\n"
    "  adr x5, guest_code\n"
    "  msr vbar_el1, x5\n"
    "  adr x5, 2f\n"
    "  msr elr_el1, x5\n"
    "  mov x5, #0x3c0\n" /* EL0t, DAIF masked */
    "  msr spsr_el1, x5\n"
    "  isb\n"
    "  eret\n"
    "2:\n" /* EL0 */
    "  svc #0x51\n"
    "  b 2b\n"
    "3:\n" /* PSCI SYSTEM_OFF */
    "  movz w0, #0x0008\n"
    "  movk w0, #0x8400, lsl #16\n"
    "  hvc #0\n"
    "  b 3b\n"
    ".globl guest_code_end\n"
    "guest_code_end:\n"
    ".popsection\n");
extern const uint8_t guest_code[], guest_code_end[];

static int failures;

/* One result line: name=ok or name=FAILED, then what was seen (detail, may be empty). */
static void check(const char *name, int ok, const char *detail) {
    printf("ARM64-PROBE %s=%s%s%s\n", name, ok ? "ok" : "FAILED", *detail ? " " : "", detail);
    if (!ok) failures++;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "ARM64-PROBE run=FAILED the guest did not finish in 60 s\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(1);
}

static int die(const char *what) {
    printf("ARM64-PROBE setup=FAILED %s: %s\n", what, strerror(errno));
    return 2;
}

/* Runs the vCPU to its next exit that is not a signal; 0 on success. */
static int run(int vcpu) {
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* The next exit must be an MMIO write of 4 bytes at addr; its data in *data. */
static int expect_mmio(int vcpu, struct kvm_run *r, uint64_t addr, uint32_t *data, const char *name) {
    if (run(vcpu) != 0) {
        printf("ARM64-PROBE %s=FAILED KVM_RUN: %s\n", name, strerror(errno));
        failures++;
        return -1;
    }
    if (r->exit_reason != KVM_EXIT_MMIO || !r->mmio.is_write || r->mmio.len != 4 || r->mmio.phys_addr != addr) {
        if (r->exit_reason == KVM_EXIT_MMIO && r->mmio.phys_addr == MMIO_BASE + 24)
            printf("ARM64-PROBE %s=FAILED unexpected EL1 exception, ESR_EL1 0x%x\n", name,
                   (unsigned)(r->mmio.data[0] | r->mmio.data[1] << 8 | r->mmio.data[2] << 16 |
                              (uint32_t)r->mmio.data[3] << 24));
        else
            printf("ARM64-PROBE %s=FAILED exit %u (MMIO write at 0x%llx expected)\n", name, r->exit_reason,
                   (unsigned long long)addr);
        failures++;
        return -1;
    }
    memcpy(data, r->mmio.data, 4);
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) return die("open /dev/kvm");
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        printf("ARM64-PROBE setup=FAILED KVM API version %d, not %d\n", api, KVM_API_VERSION);
        return 2;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) return die("KVM_CREATE_VM");

    /* The in-kernel GICv3 the VMM's arm64 back end uses: made and placed before the vCPUs,
     * initialized after them. */
    struct kvm_create_device gic = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
    if (ioctl(vm, KVM_CREATE_DEVICE, &gic) != 0) return die("KVM_CREATE_DEVICE GICv3");
    uint64_t gicd = GICD_BASE, gicr = GICR_BASE;
    struct kvm_device_attr dist = {
        .group = KVM_DEV_ARM_VGIC_GRP_ADDR, .attr = KVM_VGIC_V3_ADDR_TYPE_DIST, .addr = (uintptr_t)&gicd};
    struct kvm_device_attr redist = {
        .group = KVM_DEV_ARM_VGIC_GRP_ADDR, .attr = KVM_VGIC_V3_ADDR_TYPE_REDIST, .addr = (uintptr_t)&gicr};
    if (ioctl((int)gic.fd, KVM_SET_DEVICE_ATTR, &dist) != 0) return die("GICv3 distributor address");
    if (ioctl((int)gic.fd, KVM_SET_DEVICE_ATTR, &redist) != 0) return die("GICv3 redistributor address");

    void *mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return die("mmap guest memory");
    size_t code_size = (size_t)(guest_code_end - guest_code);
    memcpy(mem, guest_code, code_size);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = GUEST_BASE, .memory_size = GUEST_SIZE, .userspace_addr = (uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) != 0) return die("KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) return die("KVM_CREATE_VCPU");
    struct kvm_vcpu_init init;
    memset(&init, 0, sizeof init);
    if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) != 0) return die("KVM_ARM_PREFERRED_TARGET");
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) != 0) return die("KVM_ARM_VCPU_INIT");
    printf("ARM64-PROBE vcpu_init=ok target=%u\n", init.target);
    struct kvm_device_attr gic_init = {.group = KVM_DEV_ARM_VGIC_GRP_CTRL, .attr = KVM_DEV_ARM_VGIC_CTRL_INIT};
    if (ioctl((int)gic.fd, KVM_SET_DEVICE_ATTR, &gic_init) != 0) return die("GICv3 init");
    printf("ARM64-PROBE gicv3=ok dist=0x%llx redist=0x%llx\n", (unsigned long long)gicd,
           (unsigned long long)gicr);

    uint64_t pc = GUEST_BASE;
    struct kvm_one_reg reg = {
        .id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
              (offsetof(struct kvm_regs, regs.pc) / sizeof(uint32_t)),
        .addr = (uintptr_t)&pc};
    if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) != 0) return die("KVM_SET_ONE_REG pc");

    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) return die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *r = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (r == MAP_FAILED) return die("mmap kvm_run");

    signal(SIGALRM, on_alarm);
    alarm(60);
    char detail[96];
    uint32_t v;
    if (expect_mmio(vcpu, r, MMIO_BASE, &v, "mmio") == 0) {
        snprintf(detail, sizeof detail, "data=0x%x expected=0x%x", v, MMIO_MAGIC);
        check("mmio", v == MMIO_MAGIC, detail);
    }
    if (failures) return 1;

    uint32_t ticks, freq;
    if (expect_mmio(vcpu, r, MMIO_BASE + 32, &ticks, "timer") != 0) return 1;
    if (expect_mmio(vcpu, r, MMIO_BASE + 40, &freq, "timer") != 0) return 1;
    snprintf(detail, sizeof detail, "counter_ticks=%u cntfrq=%u", ticks, freq);
    check("timer", ticks > 0 && freq > 0, detail);

    uint32_t esr, spsr;
    if (expect_mmio(vcpu, r, MMIO_BASE + 8, &esr, "usermode") != 0) return 1;
    if (expect_mmio(vcpu, r, MMIO_BASE + 16, &spsr, "usermode") != 0) return 1;
    /* ESR: EC SVC64 with the immediate; SPSR.M[3:0] = 0: the exception came from EL0t. */
    int usermode_ok = (esr >> 26) == ESR_EC_SVC64 && (esr & 0xffff) == SVC_IMM && (spsr & 0xf) == 0;
    snprintf(detail, sizeof detail, "esr=0x%x spsr=0x%x", esr, spsr);
    check("usermode", usermode_ok, detail);

    if (run(vcpu) != 0) {
        printf("ARM64-PROBE system_off=FAILED KVM_RUN: %s\n", strerror(errno));
        return 1;
    }
    snprintf(detail, sizeof detail, "exit=%u event=%u", r->exit_reason,
             r->exit_reason == KVM_EXIT_SYSTEM_EVENT ? r->system_event.type : 0);
    check("system_off",
          r->exit_reason == KVM_EXIT_SYSTEM_EVENT && r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN, detail);
    alarm(0);
    return failures ? 1 : 0;
}
