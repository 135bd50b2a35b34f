# tests/guests/probe-arm64/: the arm64 user-mode probe (probe.S), an arm64 Image of a few KiB that
# qt-vmm embeds for host-check (vmm/enclave/module.mk). ARCH=arm64 only; the x86 one is
# tests/guests/probe. Linked at 0 (it is position independent) and flattened by objcopy.
# Included from tests/guests/module.mk; the guard makes a second inclusion harmless.
ifndef PROBE_ARM64_MK
PROBE_ARM64_MK := 1
ifeq ($(ARCH),arm64)

$(BUILD)/guest/probe-arm64/probe.o: tests/guests/probe-arm64/probe.S tests/guests/probe-arm64/module.mk
	@mkdir -p $(@D)
	$(CC) -c $< -o $@

$(BUILD)/guest/probe-arm64/probe.elf: $(BUILD)/guest/probe-arm64/probe.o
	$(CROSS_COMPILE)ld -nostdlib -static -no-pie -z noexecstack -Ttext=0 -e _head -o $@ $<

$(BUILD)/guest/probe.Image: $(BUILD)/guest/probe-arm64/probe.elf
	$(CROSS_COMPILE)objcopy -O binary $< $@

all: $(BUILD)/guest/probe.Image
endif
endif
