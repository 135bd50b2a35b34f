#!/usr/bin/env bash
# An app killed by a signal: guest-init prints "app killed by signal 11", reports it and ends
# the VM without a kernel panic.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"
enclave_layout
install_app app_crash /usr/bin/crash
write_cmd crash
write_env PATH=/usr/bin
boot_enclave

expect_contains "$BOOT_OUT" "CRASH about to raise SIGSEGV"
expect_contains "$BOOT_OUT" "app killed by signal 11"
expect_not_contains "$BOOT_OUT" "app exited with status"
