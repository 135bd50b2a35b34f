#!/usr/bin/env bash
# Every way the launch can go wrong gives one clear "init: error:" line, the app does not run,
# and the VM ends by itself without a kernel panic (boot_enclave checks QEMU exited and there
# was no panic). There is no parent, so each also logs that the init-error status could not be
# delivered.
source "$TOP/tests/lib.sh"
source "$TOP/guest-init/boot_test_lib.sh"

# check_error SETUP_FUNCTION EXPECTED_LINE
check_error() {
  enclave_layout
  install_app app_echo_env /usr/bin/echo-env
  write_cmd echo-env
  write_env PATH=/usr/bin
  "$1"
  echo "=== case $1"
  boot_enclave
  expect_contains "$BOOT_OUT" "$2" "case $1"
  expect_contains "$BOOT_OUT" "init: status not delivered to the parent (vsock CID 3 port 9001)" "case $1"
  expect_not_contains "$BOOT_OUT" "ECHO argc" "case $1"
  expect_not_contains "$BOOT_OUT" "app exited with status" "case $1"
  [ "$(grep -c 'init: error:' <<<"$BOOT_OUT")" -eq 1 ] || fail "case $1: expected exactly one init: error: line"
}

missing_cmd() { rm "$R1/cmd"; }
empty_cmd() { : > "$R1/cmd"; }
app_not_found() { write_cmd no-such-app; }
path_not_found() { write_cmd /usr/bin/nope; }
not_executable() { printf 'just text\n' > "$R1/rootfs/usr/bin/text"; chmod 0755 "$R1/rootfs/usr/bin/text"; write_cmd text; }
no_exec_bit() { install -m 0644 "$BUILD/guest/app_echo_env" "$R1/rootfs/usr/bin/noexec"; write_cmd noexec; }
missing_interpreter() { printf '#!/usr/bin/python3\nprint(1)\n' > "$R1/rootfs/usr/bin/script"; chmod 0755 "$R1/rootfs/usr/bin/script"; write_cmd script; }
missing_rootfs() { rm -rf "$R1/rootfs"; }
unknown_user() { echo ghost > "$R1/user"; }
unknown_group() { echo app:ghosts > "$R1/user"; }
unreadable_env() { rm "$R1/env"; mkdir "$R1/env"; }
bad_forward() { printf '443:8000\n443\n' > "$R1/forward"; }

check_error missing_cmd "init: error: cannot read /cmd (the app's command line): No such file or directory"
check_error empty_cmd "init: error: /cmd is empty (the image has no ENTRYPOINT or CMD)"
check_error app_not_found "init: error: app 'no-such-app' not found in PATH=/usr/bin"
check_error path_not_found "init: error: app '/usr/bin/nope' not found"
check_error not_executable "init: error: cannot execute '/usr/bin/text': Exec format error"
check_error no_exec_bit "init: error: app 'noexec' found in PATH=/usr/bin but not executable"
check_error missing_interpreter "init: error: app '/usr/bin/script' not found (or its interpreter is missing)"
check_error missing_rootfs "init: error: /rootfs is missing"
check_error unknown_user "init: error: user 'ghost' not found in the image's /etc/passwd"
check_error unknown_group "init: error: group 'ghosts' not found in the image's /etc/group"
check_error unreadable_env "init: error: cannot read /env (the app's environment): Is a directory"
check_error bad_forward "init: error: /forward: forwarder '443' is not TCP_PORT:VSOCK_PORT (TCP port 1-65535, vsock port 1-4294967294), e.g. 443:8000"
