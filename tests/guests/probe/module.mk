# tests/guests/probe/: the freestanding probe guest, built as a bzImage ($(BUILD)/guest/probe.bzImage).
# Plain rules (not the STATIC_PROGRAMS template): it is not a Linux program but a tiny kernel, linked
# by probe.ld and turned into a flat bzImage by objcopy. See README.md for what it does.
# Included from tests/guests/module.mk (the top Makefile only globs two directory levels); the
# guard makes a second inclusion harmless.
# x86 only (port I/O, cpuid, MSRs, a bzImage header): not built for ARCH=arm64.
ifndef PROBE_GUEST_MK
PROBE_GUEST_MK := 1
ifeq ($(ARCH),x86)

PROBE_DIR := tests/guests/probe
PROBE_OUT := $(BUILD)/guest/probe
PROBE_C := main cpu console lib bootparams report memtest memfill badio usermode loops vsock vsock_modes vsock_hostile
PROBE_S := header entry
PROBE_OBJS := $(addprefix $(PROBE_OUT)/,$(addsuffix .o,$(PROBE_S) $(PROBE_C)))
# Freestanding, position-dependent, no SSE/MMX/x87 state, no red zone (exceptions push on the
# current stack), no CET endbr64, no unwind tables.
PROBE_CFLAGS := -std=gnu11 -O2 $(WARN) -ffreestanding -nostdlib -fno-pic -fno-pie -fno-stack-protector \
  -mno-red-zone -mgeneral-regs-only -mno-sse -mno-mmx -mcmodel=small -fno-asynchronous-unwind-tables \
  -fcf-protection=none -fno-jump-tables
# Instructions this host's nested KVM cannot emulate (see README.md); the build fails if the
# compiler ever emits one.
PROBE_FORBIDDEN := popcnt|tzcnt|lzcnt|andn|blsr|bextr|pdep|pext|xsave|xrstor|cmpxchg16b|shrx|shlx|sarx|int3|xmm|ymm|movaps|movups

$(PROBE_OUT)/%.o: $(PROBE_DIR)/%.c $(PROBE_DIR)/probe.h $(PROBE_DIR)/module.mk
	@mkdir -p $(@D)
	$(CC) $(PROBE_CFLAGS) -I$(PROBE_OUT) -c $< -o $@

$(PROBE_OUT)/main.o $(PROBE_OUT)/vsock.o $(PROBE_OUT)/vsock_modes.o $(PROBE_OUT)/vsock_hostile.o: $(PROBE_DIR)/vsock.h
$(PROBE_OUT)/lib.o: $(PROBE_OUT)/crc32_table.h
$(PROBE_OUT)/crc32_table.h: $(PROBE_DIR)/gen_crc32_table.py
	@mkdir -p $(@D)
	python3 $< $@

$(PROBE_OUT)/%.o: $(PROBE_DIR)/%.S $(PROBE_DIR)/module.mk
	@mkdir -p $(@D)
	$(CC) -c $< -o $@

$(PROBE_OUT)/probe.elf: $(PROBE_OBJS) $(PROBE_DIR)/probe.ld
	ld -nostdlib -static -no-pie -z noexecstack --no-warn-rwx-segments -T $(PROBE_DIR)/probe.ld -o $@ $(PROBE_OBJS)
	@if objdump -d -j .text $@ | grep -Ew '$(PROBE_FORBIDDEN)'; then \
	  echo "probe: forbidden instruction in $@ (see above)" >&2; rm -f $@; exit 1; fi

$(BUILD)/guest/probe.bzImage: $(PROBE_OUT)/probe.elf
	objcopy -O binary $< $@

# The multiboot shim (mbshim/): lets QEMU -kernel start the probe through its 32-bit and 64-bit
# entries (QEMU itself enters a bzImage in real mode). A 32-bit flat binary at 8 MiB; test aid only.
PROBE_SHIM_OBJS := $(PROBE_OUT)/mbshim/mbshim_S.o $(PROBE_OUT)/mbshim/mbshim.o

$(PROBE_OUT)/mbshim/mbshim.o: $(PROBE_DIR)/mbshim/mbshim.c $(PROBE_DIR)/module.mk
	@mkdir -p $(@D)
	$(CC) -m32 $(filter-out -mcmodel=small,$(PROBE_CFLAGS)) -c $< -o $@

$(PROBE_OUT)/mbshim/mbshim_S.o: $(PROBE_DIR)/mbshim/mbshim.S $(PROBE_DIR)/module.mk
	@mkdir -p $(@D)
	$(CC) -m32 -c $< -o $@

$(PROBE_OUT)/mbshim/mbshim.elf: $(PROBE_SHIM_OBJS) $(PROBE_DIR)/mbshim/mbshim.ld
	ld -m elf_i386 -nostdlib -static -z noexecstack --no-warn-rwx-segments -T $(PROBE_DIR)/mbshim/mbshim.ld \
	  -o $@ $(PROBE_SHIM_OBJS)

$(BUILD)/guest/probe-mbshim.bin: $(PROBE_OUT)/mbshim/mbshim.elf
	objcopy -O binary $< $@

all: $(BUILD)/guest/probe.bzImage $(BUILD)/guest/probe-mbshim.bin
endif
endif
