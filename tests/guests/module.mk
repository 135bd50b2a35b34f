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
# nested L1's /dev/kvm (EL1 MMIO, EL0 svc, PSCI SYSTEM_OFF). arm64 only (its guest is arm64 code):
# make ARCH=arm64 builds it as build/arm64/guest/arm64_kvm_probe.
ifeq ($(ARCH),arm64)
STATIC_PROGRAMS += arm64_kvm_probe
arm64_kvm_probe_SRCS := tests/guests/arm64_kvm_probe.c
arm64_kvm_probe_FLAGS := -O2
endif

# The arm64 user-mode probe Image (host-check on arm64) has its own rules.
include tests/guests/probe-arm64/module.mk
