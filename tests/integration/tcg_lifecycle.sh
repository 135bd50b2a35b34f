#!/usr/bin/env bash
# Enclave lifecycle ends under --accel tcg, each checked for leftovers (QEMU, daemon, sockets):
#   1. `enclave stop` while the app runs and a parent holds a vsock connection open: the stop
#      succeeds, the parent's connection sees EOF, QEMU and the daemon are gone, the control and
#      vsock sockets are removed and the enclave is no longer listed (stop clears it).
#   2. an init that never sends the heartbeat (the EIF's /init replaced by a program that only
#      sleeps) with a heartbeat timeout as long as case 1's boot took on this host (1 s under
#      TCG here, more on a nested KVM): start fails with NO_HEARTBEAT (exit 7) soon after, the
#      record says Reason no-heartbeat, nothing is left running, the console (the boot) is kept.
#   3. a kernel that cannot find its init (rdinit=/nonexistent: it panics, panic=-1 reboots):
#      start fails with ENDED_BEFORE_HEARTBEAT (exit 7) without waiting for the timeout (four
#      boots' worth plus a minute).
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

no_leftovers() { # ID
  expect_gone "$QEMU_PID" QEMU
  expect_gone "$DAEMON_PID" "enclave daemon"
  [ ! -e "$QT_VMM_RUN_DIR/$1.sock" ] || fail "control socket $1.sock left behind"
  [ ! -e "$QT_VMM_RUN_DIR/$1.vsock" ] || fail "vsock socket $1.vsock left behind"
}

# 1. stop while the app runs.
tcg_image run '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/run.eif"
boot_s=$(printf '%.0f' "$START_SECS")
[ "$boot_s" -ge 1 ] || boot_s=1
wait_console "$ID" "VSOCK ready" 30
# Two parent connections held open: the raw hybrid socket (vsock_peer hold) and `qt-vmm vsock
# connect` with a stdin that stays open (a FIFO) and its stdout into a pipe.
"$PEER" hold --socket "$VSOCK" --port 5000 --timeout 60 >"$TEST_TMP/hold.out" 2>&1 &
hold_pid=$!
mkfifo "$TEST_TMP/stdin"
( (timeout 60 "$QT_VMM" vsock connect --enclave-id "$ID" --port 5000 <"$TEST_TMP/stdin" 2>"$TEST_TMP/conn.err"; echo $? >"$TEST_TMP/conn.rc") \
    | { cat >"$TEST_TMP/conn.out"; echo EOF >"$TEST_TMP/conn.eof"; } ) &
exec 3>"$TEST_TMP/stdin"
printf 'ping\n' >&3
for i in $(seq 100); do grep -q ping "$TEST_TMP/conn.out" 2>/dev/null && grep -q "echo ok" "$TEST_TMP/hold.out" && break; sleep 0.1; done
grep -q ping "$TEST_TMP/conn.out" || fail "vsock connect: no echo: $(cat "$TEST_TMP/conn.err")"
grep -q "echo ok" "$TEST_TMP/hold.out" || fail "vsock_peer hold: $(cat "$TEST_TMP/hold.out")"
expect_eq "$(field "$ID" State)" RUNNING "State while the app runs"
expect_eq "$(field "$ID" VsockDevice.Connections)" 2 "open vsock connections while two are held"
t0=$(date +%s.%N)
out=$("$QT_VMM" enclave stop --enclave-id "$ID") || fail "stop failed"
echo "$out; stop took $(echo "$(date +%s.%N) - $t0" | bc) s"
expect_eq "$out" "stop $ID success" "stop's output"
no_leftovers "$ID"
# The raw socket sees the end (EOF or reset) at once.
for i in $(seq 50); do kill -0 "$hold_pid" 2>/dev/null || break; sleep 0.1; done
rc=0; wait "$hold_pid" || rc=$?
cat "$TEST_TMP/hold.out"
expect_eq "$rc" 0 "vsock_peer hold: the connection must end (EOF/reset) when the enclave is stopped"
# vsock connect passes the EOF on (its stdout closes) ...
for i in $(seq 50); do [ -e "$TEST_TMP/conn.eof" ] && break; sleep 0.1; done
[ -e "$TEST_TMP/conn.eof" ] || defer_fail "vsock connect did not close its stdout when the enclave was stopped (its reader never sees EOF while stdin stays open)"
# ... and, a bridge that half-closes, ends once its stdin ends too.
exec 3>&-
for i in $(seq 50); do [ -s "$TEST_TMP/conn.rc" ] && break; sleep 0.1; done
echo "vsock connect: exit $(cat "$TEST_TMP/conn.rc" 2>/dev/null); stderr: $(cat "$TEST_TMP/conn.err")"
expect_eq "$(cat "$TEST_TMP/conn.rc" 2>/dev/null)" 0 "vsock connect's exit status after the enclave ended and stdin closed"
expect_eq "$("$QT_VMM" enclave query | jq length)" 0 "enclaves listed after stop"
rc=0; "$QT_VMM" enclave console --enclave-id "$ID" --no-follow >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "console of a stopped enclave still readable"

# 2. No heartbeat: make-img's EIF with /init replaced by a program that never heartbeats.
eif_section "$TEST_TMP/run.eif" 1 0 "$TEST_TMP/kernel"
eif_section "$TEST_TMP/run.eif" 2 0 "$TEST_TMP/cmdline"
eif_section "$TEST_TMP/run.eif" 3 1 "$TEST_TMP/rd1"
cmdline=$(tr -d '\0' <"$TEST_TMP/cmdline")
mkdir -p "$TEST_TMP/fakeinit/dev"
install -m 0755 "$BUILD/guest/app_sleep" "$TEST_TMP/fakeinit/init"
make_initramfs "$TEST_TMP/fakeinit" "$TEST_TMP/fakeinit.cpio"
"$BUILD/bin/eif-testdata" "$TEST_TMP/nohb.eif" "$TEST_TMP/kernel" "$cmdline" "$TEST_TMP/fakeinit.cpio" "$TEST_TMP/rd1" >/dev/null
t0=$(date +%s.%N)
rc=0
"$QT_VMM" enclave start --accel "$E2E_ACCEL" "${E2E_START_OPTS[@]}" --eif "$TEST_TMP/nohb.eif" --cpus "$E2E_CPUS" --mem 256 --debug-mode --heartbeat-timeout "$boot_s" \
  >"$TEST_TMP/nohb.out" 2>"$TEST_TMP/nohb.err" || rc=$?
secs=$(echo "$(date +%s.%N) - $t0" | bc)
echo "start without heartbeat: exit $rc after $secs s: $(cat "$TEST_TMP/nohb.err")"
expect_eq "$rc" 7 "start's exit status without a heartbeat"
expect_contains "$(cat "$TEST_TMP/nohb.err")" "NO_HEARTBEAT"
[ "$(echo "$secs < $boot_s + 10" | bc)" = 1 ] || fail "start took $secs s with --heartbeat-timeout $boot_s"
q=$("$QT_VMM" enclave query)
echo "query: $(jq -c . <<<"$q")"
expect_eq "$(jq length <<<"$q")" 1 "records after NO_HEARTBEAT"
ID=$(jq -r '.[0].EnclaveID' <<<"$q")
expect_eq "$(jq -r '.[0].State' <<<"$q")" TERMINATED State
expect_eq "$(jq -r '.[0].Reason' <<<"$q")" no-heartbeat Reason
expect_eq "$(jq -r '.[0].Heartbeat' <<<"$q")" false Heartbeat
QEMU_PID=$(jq -r '.[0].QemuPID' <<<"$q") DAEMON_PID=$(jq -r '.[0].ProcessID' <<<"$q")
no_leftovers "$ID"
con=$(console "$ID")
expect_contains "$con" "Linux version" "kept console"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null

# 3. The kernel cannot run its init: it panics and reboots before any heartbeat.
"$BUILD/bin/eif-testdata" "$TEST_TMP/noinit.eif" "$TEST_TMP/kernel" "$cmdline rdinit=/nonexistent" "$TEST_TMP/fakeinit.cpio" >/dev/null
t0=$(date +%s.%N)
rc=0
"$QT_VMM" enclave start --accel "$E2E_ACCEL" "${E2E_START_OPTS[@]}" --eif "$TEST_TMP/noinit.eif" --cpus "$E2E_CPUS" --mem 256 --debug-mode --heartbeat-timeout "$((4 * boot_s + 60))" \
  >"$TEST_TMP/noinit.out" 2>"$TEST_TMP/noinit.err" || rc=$?
secs=$(echo "$(date +%s.%N) - $t0" | bc)
echo "start with rdinit=/nonexistent: exit $rc after $secs s: $(cat "$TEST_TMP/noinit.err")"
expect_eq "$rc" 7 "start's exit status when the guest ends first"
expect_contains "$(cat "$TEST_TMP/noinit.err")" "ENDED_BEFORE_HEARTBEAT"
[ "$(echo "$secs < 2 * $boot_s + 30" | bc)" = 1 ] || fail "start waited $secs s for a guest that had ended"
q=$("$QT_VMM" enclave query)
echo "query: $(jq -c . <<<"$q")"
ID=$(jq -r '.[0].EnclaveID' <<<"$q")
expect_eq "$(jq -r '.[0].State' <<<"$q")" TERMINATED State
expect_eq "$(jq -r '.[0].Heartbeat' <<<"$q")" false Heartbeat
QEMU_PID=$(jq -r '.[0].QemuPID' <<<"$q") DAEMON_PID=$(jq -r '.[0].ProcessID' <<<"$q")
no_leftovers "$ID"
con=$(console "$ID")
echo "$con" | grep -iE "panic|nonexistent|Failed to execute" | head -n 5
expect_contains "$con" "Kernel panic" "kept console"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null
expect_eq "$("$QT_VMM" enclave query | jq length)" 0 "enclaves listed at the end"
echo PASS
