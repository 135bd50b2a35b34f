#!/usr/bin/env bash
# guest-init runs the app with the image's argv (ENTRYPOINT+CMD, spaces and an empty argument
# kept), Env, WorkingDir (created if missing) and User (by name, with supplementary groups and
# HOME from /etc/passwd); finds it through the image's PATH, not the default one; sets up the
# mounts, /dev links, hostname, loopback; logs the failed heartbeat and still runs the app;
# prints its exit status and ends the VM cleanly.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"
enclave_layout
install_app app_echo_env /opt/app/bin/echo-env
write_cmd echo-env --exit=7 "hello world" "" last
write_env PATH=/opt/app/bin:/usr/bin "GREETING=hi there" EQ=a=b=c
echo /srv/data > "$R1/workdir"
echo app > "$R1/user"
boot_enclave

expect_contains "$BOOT_OUT" "init: heartbeat to the parent (vsock CID 3 port 9000) failed after 6 tries"
expect_contains "$BOOT_OUT" "ECHO argc=5"
expect_contains "$BOOT_OUT" "ECHO argv[0]=<echo-env>"
expect_contains "$BOOT_OUT" "ECHO argv[2]=<hello world>"
expect_contains "$BOOT_OUT" "ECHO argv[3]=<>"
expect_contains "$BOOT_OUT" "ECHO argv[4]=<last>"
expect_contains "$BOOT_OUT" "ECHO env <PATH=/opt/app/bin:/usr/bin>"
expect_contains "$BOOT_OUT" "ECHO env <GREETING=hi there>"
expect_contains "$BOOT_OUT" "ECHO env <EQ=a=b=c>"
expect_contains "$BOOT_OUT" "ECHO env <HOME=/home/app>"
expect_contains "$BOOT_OUT" "ECHO cwd=/srv/data"
expect_contains "$BOOT_OUT" "ECHO uid=1000 gid=1000 euid=1000 groups=29,50,1000"
expect_contains "$BOOT_OUT" "ECHO hostname=enclave"
expect_contains "$BOOT_OUT" "ECHO ppid=1 session_leader=yes"
expect_contains "$BOOT_OUT" "ECHO stdin=/dev/null eof=yes"
for m in "/proc proc" "/sys sysfs" "/dev devtmpfs" "/dev/pts devpts" "/dev/shm tmpfs" "/tmp tmpfs" "/run tmpfs"; do
  expect_contains "$BOOT_OUT" "ECHO mount $m"
done
expect_contains "$BOOT_OUT" "ECHO link /dev/fd -> /proc/self/fd"
expect_contains "$BOOT_OUT" "ECHO link /dev/stdin -> /proc/self/fd/0"
expect_contains "$BOOT_OUT" "ECHO link /dev/stderr -> /proc/self/fd/2"
expect_contains "$BOOT_OUT" "ECHO /dev/null ok"
expect_contains "$BOOT_OUT" "ECHO /cmd hidden"
expect_contains "$BOOT_OUT" "ECHO lo up=yes addr=127.0.0.1"
expect_contains "$BOOT_OUT" "ECHO tcp 127.0.0.1 ok"
expect_contains "$BOOT_OUT" "ECHO done exit=7"
expect_contains "$BOOT_OUT" "app exited with status 7"
expect_contains "$BOOT_OUT" "init: status not delivered to the parent (vsock CID 3 port 9001)"
expect_not_contains "$BOOT_OUT" "init: error:"
expect_not_contains "$BOOT_OUT" "init: warning:"
# The kernel gave lo 127.0.0.1 by itself when init set it up (init did not have to).
expect_not_contains "$BOOT_OUT" "init: note: lo came up without an address"
