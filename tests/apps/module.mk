# tests/apps/: small static apps the guest-init boot tests (tests/integration/init_*.sh) package
# as the enclave's application.
STATIC_PROGRAMS += app_echo_env app_crash app_sleep app_zombie
app_echo_env_SRCS := tests/apps/app_echo_env.c
app_echo_env_FLAGS := -O2
app_crash_SRCS := tests/apps/app_crash.c
app_crash_FLAGS := -O2
app_sleep_SRCS := tests/apps/app_sleep.c
app_sleep_FLAGS := -O2
app_zombie_SRCS := tests/apps/app_zombie.c
app_zombie_FLAGS := -O2
# app_vsock: the vsock services of the end-to-end tests (tests/integration/tcg_*.sh); see README.md.
# XXH3 comes from libxxhash-dev's header alone (XXH_INLINE_ALL), so the static link needs nothing.
STATIC_PROGRAMS += app_vsock
app_vsock_SRCS := tests/apps/app_vsock.c
app_vsock_FLAGS := -O2 -D_GNU_SOURCE
# app_nsm: /dev/nsm as libnsm uses it, for tests/integration/tcg_attestation.sh; see README.md.
STATIC_PROGRAMS += app_nsm
app_nsm_SRCS := tests/apps/app_nsm.c
app_nsm_FLAGS := -O2 -D_GNU_SOURCE
