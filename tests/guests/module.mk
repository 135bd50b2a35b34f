# tests/guests/: small guest programs the integration tests boot.
STATIC_PROGRAMS += kernel_probe
kernel_probe_SRCS := tests/guests/kernel_probe.c
kernel_probe_FLAGS := -O2 -pthread

# The guest side of tests/integration/vhost_user_qemu.sh: a static /init that talks to the
# parent over vsock (heartbeat, both directions of hybrid vsock) and powers off.
STATIC_PROGRAMS += vhost_user_guest
vhost_user_guest_SRCS := tests/guests/vhost_user_guest.c
vhost_user_guest_FLAGS := -O2

# The freestanding probe guest (bzImage) has its own rules.
include tests/guests/probe/module.mk

# tests/integration/arm64_l1_kvm.sh's probe: an arm64 program that runs a tiny guest on the arm64
# nested L1's /dev/kvm (EL1 MMIO, EL0 svc, PSCI SYSTEM_OFF). Cross-built, so not part of `all`:
# `make build/guest/arm64/kvm_probe` needs gcc-aarch64-linux-gnu (scripts/install-deps.sh).
ARM64_CC ?= aarch64-linux-gnu-gcc
$(BUILD)/guest/arm64/kvm_probe: tests/guests/arm64_kvm_probe.c tests/guests/module.mk
	@mkdir -p $(@D)
	$(ARM64_CC) -std=gnu11 -O2 $(WARN) -static -o $@ $<
