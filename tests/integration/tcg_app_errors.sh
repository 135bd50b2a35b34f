#!/usr/bin/env bash
# How an app fails, seen from the parent, whole enclave under --accel tcg (each enclave runs
# to its own end; every status comes over vsock port 9001 into query's AppStatus):
#   1. the app crashes (app_crash: SIGSEGV) → AppStatus killed, Signal 11
#   2. the image's ENTRYPOINT names a program the image does not have → init-error 7
#      (AppNotFound), Errno 2
#   3. no /cmd at all (make-img always writes one, so the EIF is rebuilt from make-img's own
#      kernel, command line and ramdisks with /cmd taken out) → init-error 2 (CmdMissing)
# Each: State TERMINATED, Reason guest-reset, QEMU and the daemon gone, console kept.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

end_of() { # ID: waits for the end, checks the common part, leaves the console in $con
  wait_terminated "$1" 60
  con=$(console "$1")
  echo "---- console of $1 ----"; echo "$con" | grep -E "CRASH|init|app |Kernel panic" ; echo "-----------------"
  echo "AppStatus: $(field "$1" AppStatus)"
  expect_eq "$(field "$1" State)" TERMINATED State
  expect_eq "$(field "$1" Reason)" guest-reset Reason
  expect_not_contains "$con" "Kernel panic" console
  expect_gone "$QEMU_PID" QEMU
  expect_gone "$DAEMON_PID" "enclave daemon"
}

# 1. Crash.
tcg_image crash '{"Entrypoint":["app_crash"],"Env":["PATH=/bin"]}' app_crash
tcg_start "$TEST_TMP/crash.eif"
end_of "$ID"
expect_contains "$con" "CRASH about to raise SIGSEGV" console
expect_contains "$con" "app killed by signal 11" console
expect_eq "$(field "$ID" AppStatus.Kind)" killed AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.Signal)" 11 AppStatus.Signal
expect_eq "$(field "$ID" AppStatus.CoreDumped)" false AppStatus.CoreDumped
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null

# 2. App not found.
tcg_image nf '{"Entrypoint":["no-such-app","x"],"Env":["PATH=/bin:/usr/bin"]}' app_echo_env
tcg_start "$TEST_TMP/nf.eif"
end_of "$ID"
expect_contains "$con" "init: error:" console
expect_contains "$con" "no-such-app" console
expect_eq "$(field "$ID" AppStatus.Kind)" init-error AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.InitError)" 7 "AppStatus.InitError (AppNotFound)"
expect_eq "$(field "$ID" AppStatus.Errno)" 2 "AppStatus.Errno (ENOENT)"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null

# 3. No /cmd: take make-img's EIF apart, drop /cmd from ramdisk 1, rebuild it with the same
#    kernel and command line.
tcg_image nocmd '{"Entrypoint":["app_echo_env"],"Env":["PATH=/bin"]}' app_echo_env
eif_section "$TEST_TMP/nocmd.eif" 1 0 "$TEST_TMP/nocmd.kernel"
eif_section "$TEST_TMP/nocmd.eif" 2 0 "$TEST_TMP/nocmd.cmdline"
eif_section "$TEST_TMP/nocmd.eif" 3 0 "$TEST_TMP/nocmd.rd0"
eif_unpack_ramdisk "$TEST_TMP/nocmd.eif" 1 "$TEST_TMP/nocmd.rd1"
[ -f "$TEST_TMP/nocmd.rd1/cmd" ] || fail "make-img's ramdisk 1 has no /cmd to remove"
rm "$TEST_TMP/nocmd.rd1/cmd"
make_initramfs "$TEST_TMP/nocmd.rd1" "$TEST_TMP/nocmd.rd1.cpio"
"$BUILD/bin/eif-testdata" "$TEST_TMP/nocmd2.eif" "$TEST_TMP/nocmd.kernel" "$(tr -d '\0' <"$TEST_TMP/nocmd.cmdline")" \
  "$TEST_TMP/nocmd.rd0" "$TEST_TMP/nocmd.rd1.cpio" >/dev/null
tcg_start "$TEST_TMP/nocmd2.eif"
end_of "$ID"
expect_contains "$con" "init: error:" console
expect_eq "$(field "$ID" AppStatus.Kind)" init-error AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.InitError)" 2 "AppStatus.InitError (CmdMissing)"
expect_eq "$(field "$ID" AppStatus.Errno)" 2 "AppStatus.Errno (ENOENT)"
echo "Reason of the missing /cmd: $(field "$ID" AppStatus.Reason)"
echo PASS
