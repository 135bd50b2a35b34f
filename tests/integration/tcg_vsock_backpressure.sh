#!/usr/bin/env bash
# Backpressure, whole enclave under --accel tcg.
# A slow parent: it reads a 64 MiB
# enclave → parent stream but sleeps 100 ms before every 4 MiB, so the Unix socket fills, the
# device's per-connection buffer fills and the guest runs out of credit, over and over. Every
# time the parent reads again the stream must resume (the device drains its buffer into the
# socket and gives the guest credit back); every byte and the XXH3-64 trailer are checked.
# Both directions of connection setup: the parent connecting to the app's source (port 5002),
# and the app dialling the parent (port 7000, <VsockSocket>_7000, 32 MiB).
# A slow enclave: the app's sink (port 5003) sleeps 100 ms before every 4 MiB while the parent
# sends 32 MiB: the guest's credit runs out, the device must stop reading the parent's socket
# and resume when the guest gives credit back; both XXH3-64s must agree.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

mib=1048576
tcg_image slow "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[\"source:5002:$((64 * mib))\",\"dial:7000:$((32 * mib)):2000\",\"sink:5003:$((4 * mib)):100\",\"exit-after:4:4\"],\"Env\":[\"PATH=/bin\"]}" app_vsock
"$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7000 --count 1 --pause-every $((4 * mib)) --pause-ms 100 --timeout 30 \
  >"$TEST_TMP/listen.out" 2>&1 &
listen_pid=$!
for i in $(seq 50); do [ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] && break; sleep 0.1; done
tcg_start "$TEST_TMP/slow.eif"
expect_eq "$VSOCK" "$QT_VMM_RUN_DIR/0.vsock" VsockSocket
wait_console "$ID" "VSOCK ready" 30

for round in 1 2; do
  rc=0; out=$(timed "slow-source-$round" "$PEER" source --socket "$VSOCK" --port 5002 --bytes $((64 * mib)) \
    --pause-every $((4 * mib)) --pause-ms 100 --timeout 20) || rc=$?
  echo "$out"
  [ "$rc" -eq 0 ] || defer_fail "slow reader, round $round: the enclave -> parent stream did not resume after the parent paused: $out"
  [ "$rc" -ne 0 ] || expect_contains "$out" "pauses=16 result=OK"
done

rc=0; sink=$(timed slow-sink "$PEER" sink --socket "$VSOCK" --port 5003 --bytes $((32 * mib)) --timeout 20) || rc=$?
echo "$sink"
[ "$rc" -eq 0 ] || defer_fail "slow enclave reader: the parent -> enclave stream did not resume: $sink"
[ "$rc" -ne 0 ] || expect_contains "$sink" "result=OK"

rc=0; wait "$listen_pid" || rc=$?
out=$(cat "$TEST_TMP/listen.out")
echo "$out"
[ "$rc" -eq 0 ] || defer_fail "slow listener: the enclave's dial stream did not resume after the parent paused: $out"
[ "$rc" -ne 0 ] || expect_contains "$out" "bytes=$((32 * mib))"

con=$(console "$ID")
echo "---- console ----"; echo "$con" | grep -E "VSOCK|init:|app "; echo "-----------------"
[ "${#TCG_DEFERRED[@]}" -gt 0 ] && exit 1
expect_contains "$(grep "VSOCK dial 7000 conn=1 bytes" <<<"$con")" " OK" "console line of dial 7000"
expect_contains "$con" "VSOCK sink 5003 conn=1 bytes=$((32 * mib)) xxh3=$(peer_field "$sink" xxh3)" console
expect_contains "$(grep "VSOCK sink 5003 conn=1" <<<"$con")" "pauses=9" "the enclave reader paused (before each 4 MiB and before the EOF)"
wait_terminated "$ID" 30
expect_eq "$(field "$ID" AppStatus.ExitCode)" 4 "AppStatus.ExitCode (4 = four clean connections)"
echo PASS
