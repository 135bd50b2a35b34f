#!/usr/bin/env bash
# An aarch64 enclave on this x86_64 host, whole, under --accel tcg: a real OCI image with the
# cross-built static test apps → make-img --arch arm64 (the cross-built guest-init, the arm64
# Image) → enclave start, which runs qemu-system-aarch64 -M virt with qt-vmm's own vsock device
# over vhost-user. Checked as on x86_64: the heartbeat before start returns, the app's output on
# the debug console (PL011), its exit status in AppStatus, the guest's own end (PSCI reset), and
# a vsock echo both ways (parent → enclave on port 5000, enclave → parent on port 7000).
# Skips, saying what is missing, without qemu-system-aarch64, the arm64 kernel or the
# cross-built binaries (tcg_lib.sh, E2E_ARCH=arm64).
E2E_ARCH=arm64
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
E2E_HEARTBEAT_TIMEOUT=${E2E_HEARTBEAT_TIMEOUT:-180} # emulating another architecture is slower
# kvm_e2e.sh runs every tcg_*.sh again with E2E_ACCEL=kvm: on an x86_64 KVM an aarch64 EIF is
# refused (img_arch.sh checks that); an arm64 host's own build runs the other tcg_*.sh natively.
[ "$E2E_ACCEL" = tcg ] || skip "an x86_64 host's --accel tcg test; under KVM an aarch64 EIF needs an aarch64 host and its native build"
tcg_setup

# 1. The app's console output and exit status.
tcg_image hello '{"Entrypoint":["app_echo_env","--exit=3"],"Cmd":["hello arm64"],"Env":["PATH=/bin","GREETING=hi from arm64"]}' app_echo_env
expect_eq "$("$QT_VMM" enclave describe-eif --eif "$TEST_TMP/hello.eif" | jq -r .Arch)" aarch64 "describe-eif Arch"
tcg_start "$TEST_TMP/hello.eif"
expect_eq "$(jq -r .Heartbeat <<<"$START_JSON")" true "start JSON Heartbeat"
wait_terminated "$ID" 180
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "query after the end: $q"
expect_eq "$(jq -r '.[0].Reason' <<<"$q")" guest-reset "Reason"
expect_eq "$(jq -r '.[0].AppStatus.Kind' <<<"$q")" exited "AppStatus.Kind"
expect_eq "$(jq -r '.[0].AppStatus.ExitCode' <<<"$q")" 3 "AppStatus.ExitCode"
expect_gone "$QEMU_PID" "QEMU"
out=$(console "$ID")
echo "---- console ----"; echo "$out" | grep -vE '^\[ *[0-9]+\.[0-9]+\] ' | tail -n 30; echo "-----------------"
expect_contains "$out" "Machine model: linux,dummy-virt" console   # qemu-system-aarch64's virt machine
expect_contains "$out" "ttyAMA0 at MMIO" console
expect_contains "$out" "ECHO argv[2]=<hello arm64>" console
expect_contains "$out" "ECHO env <GREETING=hi from arm64>" console
expect_contains "$out" "ECHO done exit=3" console

# 2. vsock both ways: the app serves echo on 5000 and dials the parent's 7000. A fresh run
# directory, so the enclave is 0 and its VsockSocket run2/0.vsock.
export QT_VMM_RUN_DIR="$TEST_TMP/run2"
mkdir -p "$QT_VMM_RUN_DIR"
"$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7000 --count 1 --timeout 300 >"$TEST_TMP/listen7000.out" 2>&1 &
listen_pid=$!
for i in $(seq 50); do [ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] && break; sleep 0.1; done
[ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] || fail "vsock_peer did not listen: $(cat "$TEST_TMP/listen7000.out")"
tcg_image both '{"Entrypoint":["app_vsock"],"Cmd":["dial:7000:65536","echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/both.eif"
expect_eq "$VSOCK" "$QT_VMM_RUN_DIR/0.vsock" VsockSocket
wait_console "$ID" "VSOCK ready" 120
out=$(timed raw-echo "$PEER" echo --socket "$VSOCK" --port 5000 --conns 2 --bytes 65536 --timeout 120) || { echo "$out"; fail "parent → enclave echo"; }
echo "$out"
expect_contains "$out" "verified=2 eof=2"
expect_contains "$out" "result=OK"
rc=0; wait "$listen_pid" || rc=$?
peer=$(cat "$TEST_TMP/listen7000.out")
echo "$peer"
expect_eq "$rc" 0 "the parent's listener on 7000 (enclave → parent)"
line=$(grep "PEER listen port=7000 conn=1 bytes=65536" <<<"$peer") || fail "no 64 KiB connection on 7000"
expect_contains "$line" "content=ok"
expect_contains "$line" "result=OK"
expect_contains "$(console "$ID" | grep "VSOCK dial 7000 conn=1 bytes")" " OK" "console line of dial 7000"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null || fail "stop"
echo PASS
