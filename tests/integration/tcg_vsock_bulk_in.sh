#!/usr/bin/env bash
# 1 GiB parent → enclave through the whole enclave under --accel tcg, XXH3-64 at both ends:
# vsock_peer sends 1 GiB of its deterministic stream to the app's sink (port 5001) over the
# hybrid vsock socket and half-closes; the app answers with its XXH3-64 of what it received,
# which must equal the parent's own, and prints the same digest and byte count on the console.
# The app then exits 7 (only when the connection ended without error). The MiB/s of both ends
# go to the log as THROUGHPUT lines. BULK_BYTES overrides the size (e.g. for a quick run).
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

bytes=${BULK_BYTES:-1073741824}
tcg_image bulkin "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[\"sink:5001\",\"exit-after:1:7\"],\"Env\":[\"PATH=/bin\"]}" app_vsock
tcg_start "$TEST_TMP/bulkin.eif"
wait_console "$ID" "VSOCK ready" 30

rc=0; sink=$(timed sink "$PEER" sink --socket "$VSOCK" --port 5001 --bytes "$bytes" --timeout 60) || rc=$?
echo "$sink"
expect_eq "$rc" 0 "vsock_peer sink exit status"
line=$(grep "^PEER sink" <<<"$sink")
expect_contains "$line" "bytes=$bytes"
expect_contains "$line" "result=OK"
hash=$(peer_field "$line" xxh3)
expect_eq "$(peer_field "$line" enclave)" "$hash" "enclave's XXH3 of the stream"
echo "THROUGHPUT parent->enclave $bytes bytes: $(peer_field "$line" MiBps) MiB/s ($(peer_field "$line" secs) s, parent side)"

wait_terminated "$ID" 60
out=$(console "$ID")
echo "---- console ----"; echo "$out" | grep -E "VSOCK|init:|app "; echo "-----------------"
expect_contains "$out" "VSOCK sink 5001 conn=1 bytes=$bytes xxh3=$hash" console
expect_contains "$out" "VSOCK exit ended=1 failed=0 status=7" console
echo "THROUGHPUT enclave side: $(grep -oE 'secs=[0-9.]+ MiBps=[0-9.]+' <<<"$(grep "VSOCK sink 5001 conn=1" <<<"$out")")"
expect_eq "$(field "$ID" AppStatus.Kind)" exited AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.ExitCode)" 7 AppStatus.ExitCode
expect_gone "$QEMU_PID" QEMU
echo PASS
