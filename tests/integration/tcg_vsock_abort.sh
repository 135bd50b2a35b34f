#!/usr/bin/env bash
# Streams cut in the middle, whole enclave under --accel tcg.
#   1. The parent closes mid-stream into the sink (after 8 MiB of 64 MiB): the app sees the EOF
#      (no digest is owed to anyone), and keeps serving: a full 4 MiB transfer right after is
#      correct on both ends.
#   2. The parent closes mid-stream while the source sends (after 4 MiB of 256 MiB): the app's
#      send fails (the connection is reset) and it says so; it keeps serving.
#   3. The app is killed mid-stream (crash-after: SIGKILL once 64 MiB moved in all, during a 256 MiB
#      source transfer): the parent's socket sees EOF or a reset before the end, the enclave
#      ends by itself with AppStatus killed, Signal 9, and QEMU is gone.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

mib=1048576
tcg_image abort "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[\"sink:5001\",\"source:5002:$((256 * mib))\",\"crash-after:$((64 * mib))\"],\"Env\":[\"PATH=/bin\"]}" app_vsock
tcg_start "$TEST_TMP/abort.eif"
wait_console "$ID" "VSOCK ready" 30

# 1. Parent closes mid-stream into the sink.
out=$("$PEER" sink --socket "$VSOCK" --port 5001 --bytes $((64 * mib)) --abort-after $((8 * mib)) --timeout 60) || fail "sink abort: $out"
echo "$out"
expect_contains "$out" "aborted after $((8 * mib)) bytes"
wait_console "$ID" "VSOCK sink 5001 conn=1 bytes=$((8 * mib))" 30
out=$("$PEER" sink --socket "$VSOCK" --port 5001 --bytes $((4 * mib)) --timeout 60) || fail "sink after the abort: $out"
echo "$out"
expect_contains "$out" "result=OK"
wait_console "$ID" "VSOCK sink 5001 conn=2 bytes=$((4 * mib)) xxh3=$(peer_field "$out" xxh3)" 30

# 2. Parent closes mid-stream while the source sends.
out=$("$PEER" source --socket "$VSOCK" --port 5002 --bytes $((256 * mib)) --abort-after $((4 * mib)) --timeout 60) || fail "source abort: $out"
echo "$out"
expect_contains "$out" "result=ABORTED"
wait_console "$ID" "VSOCK source 5002 conn=1 error: send" 30
con=$(console "$ID")
echo "$con" | grep "VSOCK source 5002 conn=1"
line=$(grep "VSOCK source 5002 conn=1 error: send" <<<"$con")
case "$line" in
  *ECONNRESET*|*EPIPE*) ;;
  *) fail "the app's send after the parent's close failed with an unexpected error: $line" ;;
esac
expect_eq "$(field "$ID" State)" RUNNING "State after the aborted streams"

# 3. The app dies mid-stream: it has moved 8+4+~4 MiB so far; the crash comes at 64 MiB,
#    inside this 256 MiB transfer.
rc=0; out=$("$PEER" source --socket "$VSOCK" --port 5002 --bytes $((256 * mib)) --timeout 60) || rc=$?
echo "$out"
expect_eq "$rc" 2 "vsock_peer source exit status when the app dies mid-stream (2 = ended early)"
case "$out" in
  *result=EOF_EARLY*|*result=RESET*) ;;
  *) fail "the parent did not see the stream end early: $out" ;;
esac
received=$(peer_field "$out" received)
[ -n "$received" ] && [ "$received" -gt 0 ] && [ "$received" -lt $((256 * mib)) ] || fail "received=$received: expected part of the stream"
wait_terminated "$ID" 60
con=$(console "$ID")
echo "---- console ----"; echo "$con" | grep -E "VSOCK|init:|app "; echo "-----------------"
expect_contains "$con" "VSOCK crash-after: " console
expect_contains "$con" "app killed by signal 9" console
expect_eq "$(field "$ID" AppStatus.Kind)" killed AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.Signal)" 9 AppStatus.Signal
expect_eq "$(field "$ID" Reason)" guest-reset Reason
expect_gone "$QEMU_PID" QEMU
echo PASS
