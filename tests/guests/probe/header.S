/* tests/guests/probe/header.S — the real-mode part of the probe bzImage (file offsets 0..0xfff).
 *
 * Holds the Linux setup header at 0x1f1 (boot protocol 2.15) and a 16-bit entry at 0x200 for
 * loaders that start the kernel in real mode, like QEMU's -kernel path through qboot/SeaBIOS.
 * That entry writes the boot-progress byte (0x42 to port 0x80), asks the BIOS for the memory map
 * (int 0x15, AX=0xE820) straight into this loaded setup area, which then serves as boot_params,
 * switches to flat 32-bit protected mode and joins the 32-bit entry (startup_32_from16) with
 * ESI = boot_params. A 32-bit or 64-bit loader never runs this code; it only reads the header. */
#define XLF_KERNEL_64 0x1
#define LOADED_HIGH 0x1

	.section .setup, "ax"
	.code16
	.org 0x1f1
hdr:
setup_sects:	.byte 7			/* 8 sectors of real-mode part = 4096 bytes */
root_flags:	.word 0
syssize:	.long probe_syssize	/* protected-mode size in 16-byte units */
ram_size:	.word 0
vid_mode:	.word 0xffff
root_dev:	.word 0
boot_flag:	.word 0xaa55
	/* 0x200: the 16-bit entry; its offset byte also gives the header's end (0x202 + 0x6a). */
	.byte 0xeb, hdr_end - 0x202
header:		.ascii "HdrS"
version:	.word 0x020f
realmode_swtch:	.long 0
start_sys_seg:	.word 0
kernel_version:	.word 0
type_of_loader:	.byte 0
loadflags:	.byte LOADED_HIGH
setup_move_size: .word 0x8000
code32_start:	.long 0x100000
ramdisk_image:	.long 0
ramdisk_size:	.long 0
bootsect_kludge: .long 0
heap_end_ptr:	.word 0
ext_loader_ver:	.byte 0
ext_loader_type: .byte 0
cmd_line_ptr:	.long 0
initrd_addr_max: .long 0x7fffffff
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0		/* position-dependent: must be loaded at 0x100000 */
min_alignment:	.byte 21
xloadflags:	.word XLF_KERNEL_64
cmdline_size:	.long 4095
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset:	.long 0
payload_length:	.long 0
setup_data:	.quad 0
pref_address:	.quad 0x100000
init_size:	.long probe_init_size
handover_offset: .long 0
kernel_info_offset: .long kernel_info - 0x100000
hdr_end:
	jmp	start16

	/* 0x2d0..0xcd0 is boot_params.e820_table; the code lives after it. */
	.org 0xd00
start16:
	movb	$0x42, %al
	outb	%al, $0x80		/* boot progress: the first instruction a loader reaches */
	cli
	cld
	movw	%ds, %ax		/* the loader set DS = ES = SS = the setup segment */
	movw	%ax, %es

	/* BIOS memory map into boot_params.e820_table (0x2d0), count into 0x1e8. */
	xorl	%ebx, %ebx
	movw	$0x2d0, %di
	xorw	%bp, %bp
1:	movl	$0xe820, %eax
	movl	$20, %ecx
	movl	$0x534d4150, %edx	/* "SMAP" */
	int	$0x15
	jc	2f
	cmpl	$0x534d4150, %eax
	jne	2f
	incw	%bp
	addw	$20, %di
	cmpw	$128, %bp
	jae	2f
	testl	%ebx, %ebx
	jnz	1b
2:	movw	%bp, %ax
	movb	%al, 0x1e8

	/* ESI = linear address of this segment = boot_params; fix up the GDT base and go. */
	xorl	%esi, %esi
	movw	%ds, %si
	shll	$4, %esi
	leal	gdt16(%esi), %eax
	movl	%eax, gdt16_desc + 2
	lgdtl	gdt16_desc
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x10, $startup_32_from16

	.balign 8
gdt16:
	.quad 0
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x10: flat 32-bit code (__BOOT_CS) */
	.quad 0x00cf92000000ffff	/* 0x18: flat data (__BOOT_DS) */
gdt16_end:
gdt16_desc:
	.word gdt16_end - gdt16 - 1
	.long 0				/* patched: linear address of gdt16 */
