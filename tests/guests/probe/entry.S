/* tests/guests/probe/entry.S — entry points and the few things C cannot do, for the probe guest.
 *
 *   payload+0x000  startup_32: 32-bit boot protocol (flat protected mode, paging off,
 *                  ESI = boot_params). Builds a 1 GiB identity map, enters long mode, joins below.
 *   payload+0x200  startup_64: 64-bit boot protocol (long mode, identity-mapped, RSI = boot_params).
 * Every entry's first two instructions write 0x42 to port 0x80 (boot progress; the launch
 * benchmarks time the VMM's first exit on it). Then probe_main(boot_params) in C runs.
 * Instruction counts matter: on a KVM that emulates guest code (this project's build hosts) each
 * instruction costs ~10 us, so loops are avoided where a string instruction or less work will do.
 * Also here: exception stubs (-> exception_handler), the SYSCALL entry and the ring-3 code of the
 * usermode check, and small helpers (load_gdt_and_segments, enter_user_mode, triple_fault). */
#define BOOT_STACK_SIZE 16384

	.section .text.head, "ax"
	.code32
	.globl startup_32
startup_32:
	movb	$0x42, %al
	outb	%al, $0x80
	movl	$32, %ebp
startup_32_common:
	cli
	cld
	lgdt	gdt32_desc
	ljmp	$0x08, $1f
1:	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%ebp, g_entry_kind
	movl	%esi, g_boot_params
	movl	$0, g_boot_params + 4
	movl	$boot_stack_top, %esp
	xorl	%eax, %eax		/* zero .bss and the boot PML4 and PDPT (the PD is filled) */
	movl	$_bss_start, %edi
	movl	$_bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	rep stosl
	movl	$boot_pml4, %edi
	movl	$2 * 4096 / 4, %ecx
	rep stosl

	/* What a 64-bit loader provides: PML4[0] -> PDPT[0] -> PD, 512 x 2 MiB = first 1 GiB. */
	movl	$boot_pdpt + 3, boot_pml4
	movl	$boot_pd + 3, boot_pdpt
	xorl	%ecx, %ecx
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax
	movl	%eax, boot_pd(, %ecx, 8)
	incl	%ecx
	cmpl	$512, %ecx
	jb	2b

	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$boot_pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmp	$0x18, $startup_64_joined

	/* From header.S's 16-bit entry (CS = its flat 32-bit code, ESI = boot_params). */
	.globl startup_32_from16
startup_32_from16:
	movl	$0x18, %eax		/* DS still holds the real-mode base: use header.S's flat data */
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	$16, %ebp
	jmp	startup_32_common

	.balign 8
gdt32:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code */
gdt32_end:
gdt32_desc:
	.word gdt32_end - gdt32 - 1
	.long gdt32

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	movb	$0x42, %al
	outb	%al, $0x80
	cli
	cld
	movl	$64, g_entry_kind(%rip)
	movq	%rsi, g_boot_params(%rip)
	xorl	%eax, %eax		/* zero .bss (16-byte aligned at both ends) */
	leaq	_bss_start(%rip), %rdi
	leaq	_bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	rep stosq
startup_64_joined:
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	movq	g_boot_params(%rip), %rdi
	call	probe_main
	call	power_off

	.text
/* void load_gdt_and_segments(const void *gdtr, uint16_t code, uint16_t data, uint16_t tss) */
	.globl load_gdt_and_segments
load_gdt_and_segments:
	lgdt	(%rdi)
	pushq	%rsi
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	%edx, %ds
	movl	%edx, %es
	movl	%edx, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	testl	%ecx, %ecx
	jz	2f
	ltr	%cx
2:	ret

/* void enter_user_mode(uint64_t rip, uint64_t rsp, uint16_t cs, uint16_t ss): iretq to ring 3. */
	.globl enter_user_mode
enter_user_mode:
	pushq	%rcx			/* SS */
	pushq	%rsi			/* RSP */
	pushq	$0x2			/* RFLAGS: IF = 0, IOPL = 0 */
	pushq	%rdx			/* CS */
	pushq	%rdi			/* RIP */
	iretq

/* noreturn void triple_fault(void): empty IDT, then an exception -> shutdown. */
	.globl triple_fault
triple_fault:
	lidt	empty_idt(%rip)
	ud2
1:	hlt
	jmp	1b

/* SYSCALL lands here (LSTAR). RAX = request (1 = check, 2 = finish). On a correct CPU this runs
 * at CPL 0; on the broken nested KVM it runs at CPL 3, where it records the fact and executes a
 * privileged instruction so that the resulting #GP reaches exception_handler at CPL 0. */
	.globl syscall_entry
syscall_entry:
	xorl	%edx, %edx
	movw	%cs, %dx
	testb	$3, %dl
	jnz	9f
	movq	%rsp, g_user_rsp(%rip)
	leaq	syscall_stack_top(%rip), %rsp
	pushq	%rcx
	pushq	%r11
	movl	%eax, %edi
	movl	%edx, %esi
	call	syscall_handler
	popq	%r11
	popq	%rcx
	movq	g_user_rsp(%rip), %rsp
	sysretq
9:	movl	%edx, g_syscall_cs(%rip)
	movl	$1, g_syscall_at_cpl3(%rip)
	hlt				/* privileged: #GP at CPL 3 */
	jmp	9b

/* Ring-3 code of the usermode check (its pages are user-accessible). */
	.globl user_code
user_code:
	movl	$1, %eax
	syscall
	movl	$2, %eax
	syscall
1:	jmp	1b

/* Interrupt vectors 32-63: count, EOI to the local APIC (0xfee000b0), return. */
	.globl irq_stub
irq_stub:
	pushq	%rax
	incl	g_irq_count(%rip)
	movl	$0xfee000b0, %eax
	movl	$0, (%rax)
	popq	%rax
	iretq

/* Vector 0x31, the local APIC timer (lapic_timer_oneshot): counted apart from the device's. */
	.globl timer_stub
timer_stub:
	pushq	%rax
	incl	g_timer_count(%rip)
	movl	$0xfee000b0, %eax
	movl	$0, (%rax)
	popq	%rax
	iretq

/* Exception stubs: push a dummy error code where the CPU pushes none, then the vector. */
.macro STUB vec, has_error
	.balign 16
	.if \has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	exception_common
.endm

	.balign 16
	.globl exception_stubs
exception_stubs:
	STUB 0,0; STUB 1,0; STUB 2,0; STUB 3,0; STUB 4,0; STUB 5,0; STUB 6,0; STUB 7,0
	STUB 8,1; STUB 9,0; STUB 10,1; STUB 11,1; STUB 12,1; STUB 13,1; STUB 14,1; STUB 15,0
	STUB 16,0; STUB 17,1; STUB 18,0; STUB 19,0; STUB 20,0; STUB 21,1; STUB 22,0; STUB 23,0
	STUB 24,0; STUB 25,0; STUB 26,0; STUB 27,0; STUB 28,0; STUB 29,1; STUB 30,1; STUB 31,0

exception_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	andq	$-16, %rsp
	call	exception_handler	/* does not return */
1:	cli
	hlt
	jmp	1b

	.section .rodata
	.balign 8
empty_idt:
	.word 0
	.quad 0

	/* Boot protocol 2.15 kernel_info (kernel_info_offset points here). */
	.balign 4
	.globl kernel_info
kernel_info:
	.ascii "LToP"
	.long kernel_info_end - kernel_info	/* size */
	.long kernel_info_end - kernel_info	/* size_total */
	.long 0					/* setup_type_max: no setup_data type is required */
kernel_info_end:

	.section .noinit, "aw", @nobits
	.balign 4096
	.globl boot_pml4, boot_pdpt, boot_pd
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
	.balign 16
boot_stack:	.skip BOOT_STACK_SIZE
boot_stack_top:
syscall_stack:	.skip 4096
syscall_stack_top:
