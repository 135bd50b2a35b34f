#!/usr/bin/env bash
# SIGTERM sent to PID 1 is forwarded to the app. The app itself sends SIGTERM to PID 1 (the only
# sender available inside a guest without a control channel) and waits; init forwards it back,
# the app exits 0 on it.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"
enclave_layout
install_app app_sleep /usr/bin/sleeper
write_cmd /usr/bin/sleeper --signal-init
write_env PATH=/bin
boot_enclave

expect_contains "$BOOT_OUT" "SLEEP ready"
expect_contains "$BOOT_OUT" "init: forwarding signal 15 (Terminated) to the app"
expect_contains "$BOOT_OUT" "SLEEP got SIGTERM"
expect_contains "$BOOT_OUT" "app exited with status 0"
