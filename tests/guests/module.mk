# tests/guests/: small guest programs the integration tests boot.
STATIC_PROGRAMS += kernel_probe
kernel_probe_SRCS := tests/guests/kernel_probe.c
kernel_probe_FLAGS := -O2 -pthread

# The freestanding probe guest (bzImage) has its own rules.
include tests/guests/probe/module.mk
