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
