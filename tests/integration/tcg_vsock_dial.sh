#!/usr/bin/env bash
# Enclave → parent over vsock, whole enclave under --accel tcg: the app dials CID 3.
#   - port 7000: the parent listens on <VsockSocket>_7000 before the enclave starts (as a Nitro
#     parent would); the app sends 16 MiB with length + XXH3-64 framing, the parent checks every
#     byte and answers with its own XXH3-64, the app prints OK;
#   - port 7001: nobody listens on <VsockSocket>_7001: the app's connect is refused
#     (ECONNRESET) and it says so on the console;
#   - port 7002: the parent starts listening only once the enclave exists (its VsockSocket is
#     there), never before; the app dials it 4 s after it starts and succeeds (the socket is
#     looked up at connect time). Waiting for `start` to return instead would race the app on
#     a slow host (a nested KVM: start → listener took longer than the 4 s);
#   - the app then exits with status 1 (one failed connection): AppStatus exited 1.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

bytes=$((16 << 20))
tcg_image dial "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[\"dial:7000:$bytes\",\"dial:7001:4096\",\"dial:7002:65536:4000\",\"exit-after:3:5\"],\"Env\":[\"PATH=/bin\"]}" app_vsock

# A private run directory: the first enclave is 0, so its VsockSocket will be run/0.vsock.
"$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7000 --count 1 --timeout 40 >"$TEST_TMP/listen7000.out" 2>&1 &
listen_pid=$!
for i in $(seq 50); do [ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] && break; sleep 0.1; done
[ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] || fail "vsock_peer did not listen: $(cat "$TEST_TMP/listen7000.out")"

(
  for i in $(seq 1200); do [ -S "$QT_VMM_RUN_DIR/0.vsock" ] && break; sleep 0.05; done
  exec "$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7002 --count 1 --timeout 120
) >"$TEST_TMP/listen7002.out" 2>&1 &
listen2_pid=$!
tcg_start "$TEST_TMP/dial.eif"
expect_eq "$VSOCK" "$QT_VMM_RUN_DIR/0.vsock" VsockSocket

wait_terminated "$ID" 90
out=$(console "$ID")
echo "---- console ----"; echo "$out" | grep -E "VSOCK|init:|app " ; echo "-----------------"
echo "query: $("$QT_VMM" enclave query --enclave-id "$ID" | jq -c .)"
rc=0; wait "$listen_pid" || rc=$?
peer=$(cat "$TEST_TMP/listen7000.out")
echo "$peer"
expect_eq "$rc" 0 "vsock_peer listen 7000 exit status"
expect_contains "$peer" "PEER listen port=7000 conn=1 bytes=$bytes"
expect_contains "$peer" "content=ok"
line=$(grep "PEER listen port=7000 conn=1" <<<"$peer")
expect_eq "$(peer_field "$line" xxh3)" "$(peer_field "$line" enclave)" "parent's and enclave's XXH3 of port 7000"
expect_contains "$line" "result=OK"
echo "THROUGHPUT enclave->parent dial 16 MiB: $(peer_field "$line" MiBps) MiB/s"
rc=0; wait "$listen2_pid" || rc=$?
peer2=$(cat "$TEST_TMP/listen7002.out")
echo "$peer2"
expect_eq "$rc" 0 "vsock_peer listen 7002 exit status"
expect_contains "$peer2" "PEER listen port=7002 conn=1 bytes=65536"
expect_contains "$peer2" "result=OK"

mine=$(peer_field "$line" xxh3)
expect_contains "$out" "VSOCK dial 7000 conn=1 bytes=$bytes xxh3=$mine" console
expect_contains "$(grep "VSOCK dial 7000 conn=1 bytes" <<<"$out")" " OK" "console line of dial 7000"
expect_contains "$out" "VSOCK dial 7001 connect to CID 3 failed: ECONNRESET" console
expect_contains "$(grep "VSOCK dial 7002 conn=1 bytes" <<<"$out")" " OK" "console line of dial 7002"
expect_contains "$out" "VSOCK exit ended=3 failed=1 status=1" console
expect_contains "$out" "app exited with status 1" console
expect_eq "$(field "$ID" AppStatus.Kind)" exited AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.ExitCode)" 1 AppStatus.ExitCode
expect_eq "$(field "$ID" Reason)" guest-reset Reason
# Nothing was left behind on the parent's side.
[ ! -e "$QT_VMM_RUN_DIR/0.vsock_7000" ] || fail "listener socket left behind"
expect_gone "$QEMU_PID" QEMU
echo PASS
