#!/usr/bin/env bash
# 1,000 concurrent vsock connections into one enclave under --accel tcg: vsock_peer opens 1,000
# hybrid-vsock connections to the app's echo port and holds every one open (all "OK" received
# before any data moves); each then carries a different pseudo-random payload (up to 8 KiB),
# checked byte for byte; only when all 1,000 echoes are complete does the parent half-close
# them, and each must end with EOF. The app's own count of simultaneously open connections
# (peak) must be 1,000 too.
# Then the device's documented bound (1,024 connections per enclave): 1,025 connections are
# attempted at once; the first 1,024 get "OK", the 1,025th is closed without one. The app
# exits 9 after exactly 1,000 + 1,024 clean connections.
# CONCURRENT_CONNS overrides the first count.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

n=${CONCURRENT_CONNS:-1000}
tcg_image conc "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[\"echo:5000\",\"exit-after:$((n + 1024)):9\"],\"Env\":[\"PATH=/bin\"]}" app_vsock
tcg_start "$TEST_TMP/conc.eif"
wait_console "$ID" "VSOCK ready" 30
ready=$(console "$ID" | grep "VSOCK ready")
echo "$ready"

rc=0; out=$(timed echo-$n "$PEER" echo --socket "$VSOCK" --port 5000 --conns "$n" --bytes 8192 --window 64 --timeout 100) || rc=$?
echo "$out"
expect_eq "$rc" 0 "vsock_peer echo exit status"
expect_contains "$out" "PEER echo established=$n concurrently"
expect_contains "$out" "conns=$n "
expect_contains "$out" "verified=$n eof=$n"
expect_contains "$out" "result=OK"
echo "CONCURRENT $n connections: $(sed -nE 's/.*(open_secs=[^ ]* echo_secs=[^ ]* close_secs=[^ ]*).*/\1/p' <<<"$out")"

# Wait until the device has closed the first batch, then go past the bound.
for i in $(seq 100); do [ "$(field "$ID" VsockDevice.Connections)" = 0 ] && break; sleep 0.1; done
expect_eq "$(field "$ID" VsockDevice.Connections)" 0 "open vsock connections after the first batch"
rc=0; out=$(timed echo-1025 "$PEER" echo --socket "$VSOCK" --port 5000 --conns 1025 --bytes 1024 --window 64 --timeout 60) || rc=$?
echo "$out"
expect_eq "$rc" 3 "vsock_peer echo exit status for 1,025 connections (3 = one closed without OK)"
expect_contains "$out" "PEER echo conn=1024 error: closed without OK"

wait_terminated "$ID" 60
con=$(console "$ID")
echo "---- console ----"; echo "$con" | grep -E "VSOCK|init:|app "; echo "-----------------"
expect_contains "$con" "VSOCK summary echo:5000 conns=$((n + 1024)) peak=1024 errors=0" console
expect_contains "$con" "VSOCK exit ended=$((n + 1024)) failed=0 status=9" console
expect_eq "$(field "$ID" AppStatus.ExitCode)" 9 AppStatus.ExitCode
expect_gone "$QEMU_PID" QEMU
echo PASS
