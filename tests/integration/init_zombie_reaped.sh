#!/usr/bin/env bash
# PID 1 reaps orphans: the app's grandchild is re-parented to init and must not stay a zombie.
# Also: argv[0] with a slash is used as is, relative to the image's WorkingDir.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"
enclave_layout
install_app app_zombie /opt/svc/bin/zombie
write_cmd bin/zombie
write_env PATH=/nowhere
echo /opt/svc > "$R1/workdir"
boot_enclave

expect_contains "$BOOT_OUT" "ZOMBIE grandchild pid"
expect_contains "$BOOT_OUT" "ZOMBIE grandchild reaped"
expect_contains "$BOOT_OUT" "app exited with status 0"
