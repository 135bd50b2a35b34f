/* tests/guests/probe/mbshim/mbshim.S — entry and mode switches of the multiboot shim (test aid).
 *
 * QEMU boots this with -kernel (multiboot v1, a.out kludge): 32-bit protected mode, EAX = magic,
 * EBX = multiboot info. mbshim.c builds a Linux zero page and calls shim_jump32 (32-bit boot
 * protocol: flat segments __BOOT_CS 0x10 / __BOOT_DS 0x18, paging off, ESI = boot_params) or
 * shim_jump64 (64-bit boot protocol: long mode, 1 GiB identity map in 2 MiB pages, same
 * selectors, RSI = boot_params), the way a VMM such as qt-vmm starts a bzImage. */
	.section .text.head, "ax"
	.code32
mb_header:
	.long 0x1badb002
	.long 0x00010002		/* bit 1: memory map wanted; bit 16: address fields below */
	.long -(0x1badb002 + 0x00010002)
	.long mb_header			/* header_addr */
	.long _load_start		/* load_addr */
	.long _load_end			/* load_end_addr */
	.long _bss_end			/* bss_end_addr */
	.long shim_start		/* entry_addr */

	.globl shim_start
shim_start:
	cli
	cld
	movl	$stack_top, %esp
	pushl	%ebx
	pushl	%eax
	call	shim_main
1:	hlt
	jmp	1b

	.text
/* void shim_jump32(uint32_t entry, uint32_t boot_params) */
	.globl shim_jump32
shim_jump32:
	movl	4(%esp), %edi
	movl	8(%esp), %esi
	lgdt	gdt_desc
	ljmp	$0x10, $1f
1:	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%edi, %eax
	xorl	%ebx, %ebx
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	jmp	*%eax

/* void shim_jump64(uint32_t entry, uint32_t boot_params) */
	.globl shim_jump64
shim_jump64:
	movl	4(%esp), %edi
	movl	8(%esp), %esi
	movl	$pdpt + 3, pml4
	movl	$pd + 3, pdpt
	xorl	%ecx, %ecx
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax
	movl	%eax, pd(, %ecx, 8)
	movl	$0, pd + 4(, %ecx, 8)
	incl	%ecx
	cmpl	$512, %ecx
	jb	2b
	movl	%cr4, %eax
	orl	$0x20, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx
	rdmsr
	orl	$0x100, %eax
	wrmsr
	lgdt	gdt_desc
	movl	%cr0, %eax
	orl	$0x80000001, %eax
	movl	%eax, %cr0
	ljmp	$0x20, $3f
	.code64
3:	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%edi, %edi
	movl	%esi, %esi
	xorl	%ebp, %ebp
	jmp	*%rdi
	.code32

	.section .rodata
	.balign 8
gdt:
	.quad 0
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x10: flat 32-bit code (__BOOT_CS) */
	.quad 0x00cf92000000ffff	/* 0x18: flat data (__BOOT_DS) */
	.quad 0x00af9a000000ffff	/* 0x20: 64-bit code, for the far jump into long mode */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4096
	.skip 8192
stack_top:
