#!/usr/bin/env bash
# guest-init with the fewest inputs: no /workdir (cwd /), a numeric /user unknown to passwd
# (HOME=/), an /env without PATH (the default PATH is used and given to the app, which lives
# in /usr/local/bin), exit status 0.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"
enclave_layout
install_app app_echo_env /usr/local/bin/echo-env
write_cmd echo-env
write_env LANG=C.UTF-8
echo 4321:99 > "$R1/user"
boot_enclave

expect_contains "$BOOT_OUT" "ECHO argc=1"
expect_contains "$BOOT_OUT" "ECHO env <LANG=C.UTF-8>"
expect_contains "$BOOT_OUT" "ECHO env <PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin>"
expect_contains "$BOOT_OUT" "ECHO env <HOME=/>"
expect_contains "$BOOT_OUT" "ECHO cwd=/"
expect_contains "$BOOT_OUT" "ECHO uid=4321 gid=99 euid=4321 groups=99"
expect_contains "$BOOT_OUT" "ECHO tcp 127.0.0.1 ok"
expect_contains "$BOOT_OUT" "app exited with status 0"
expect_not_contains "$BOOT_OUT" "init: error:"
