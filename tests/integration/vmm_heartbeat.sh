#!/usr/bin/env bash
# `enclave start` and the boot heartbeat, and the parent side of the vsock device as far as a
# guest without a vsock driver can show it (tests/integration/vmm_vsock_probe.sh drives the
# device from inside a probe guest):
#   - no heartbeat within --heartbeat-timeout: start fails (NO_HEARTBEAT), the enclave is
#     stopped, its record says why, its console is kept (debug mode), every hugepage is back;
#   - a guest that ends before its heartbeat: ENDED_BEFORE_HEARTBEAT;
#   - --heartbeat-timeout 0: start returns at once; query shows VsockSocket (root:qt-vmm 0660),
#     `vsock connect` / `vsock forward` to a port nobody listens on fail cleanly;
#   - the vsock socket goes away with the enclave.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup
before=$(free_2m)

probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
probe_eif "$TEST_TMP/report.eif" "probe.mode=report"

set +e
err=$("$QT_VMM" enclave start --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus --debug-mode --heartbeat-timeout 1.5 2>&1 >/dev/null)
status=$?
set -e
echo "no heartbeat -> $status: $err"
[ "$status" -eq 7 ] || fail "expected exit 7 without a heartbeat, got $status"
expect_contains "$err" "error [NO_HEARTBEAT]"
expect_contains "$err" "within 1.5 s"
expect_contains "$err" "qt-vmm enclave console --enclave-id 0"
[ "$(wc -l <<<"$err")" = 1 ] || fail "error must be one line"
[ "$(enclave_field 0 State)" = TERMINATED ] || fail "the enclave must be stopped"
[ "$(enclave_field 0 Reason)" = no-heartbeat ] || fail "record reason: $(enclave_field 0 Reason)"
"$QT_VMM" enclave console --enclave-id 0 --no-follow 2>/dev/null | grep "PROBE " >/dev/null || fail "the console of the stopped enclave was not kept"
[ ! -e "$QT_VMM_RUN_DIR/0.vsock" ] || fail "vsock socket left behind"
[ "$(free_2m)" = "$before" ] || fail "hugepages still in use after NO_HEARTBEAT"
"$QT_VMM" enclave stop --enclave-id 0 >/dev/null

set +e
err=$("$QT_VMM" enclave start --eif "$TEST_TMP/report.eif" --cpus 1 --mem 128 --allow-shared-cpus --heartbeat-timeout 60 2>&1 >/dev/null)
status=$?
set -e
echo "ended first -> $status: $err"
[ "$status" -eq 7 ] || fail "expected exit 7 for a guest that ended before its heartbeat, got $status"
expect_contains "$err" "error [ENDED_BEFORE_HEARTBEAT]"
expect_contains "$err" "guest-reset"
expect_contains "$err" "start it with --debug-mode"
"$QT_VMM" enclave stop --enclave-id 0 >/dev/null

out=$("$QT_VMM" enclave start --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus --heartbeat-timeout 0)
id=$(jq -r .EnclaveID <<<"$out")
sock=$(jq -r .VsockSocket <<<"$out")
[ "$sock" = "$QT_VMM_RUN_DIR/$id.vsock" ] || fail "VsockSocket: $sock"
[ -S "$sock" ] || fail "no socket at $sock"
[ "$(stat -c %a "$sock")" = 660 ] || fail "vsock socket mode $(stat -c %a "$sock") (want 0660, README Access model)"
[ "$(jq -r .Heartbeat <<<"$out")" = false ] || fail "Heartbeat must be false"
[ "$(enclave_field "$id" VsockDevice.DriverOk)" = false ] || fail "no driver in this guest"

set +e
err=$(echo hello | "$QT_VMM" vsock connect --enclave-id "$id" --port 5000 2>&1 >/dev/null); status=$?
set -e
echo "connect, no listener -> $status: $err"
[ "$status" -ne 0 ] || fail "connect to a port nobody listens on must fail"
expect_contains "$err" "nothing listens on that port"

set +e
err=$("$QT_VMM" vsock connect --enclave-id 9 --port 5000 2>&1 </dev/null); status=$?
set -e
[ "$status" -eq 8 ] || fail "connect to a missing enclave: exit $status"
expect_contains "$err" "error [ENCLAVE_NOT_FOUND]"

"$QT_VMM" vsock forward --enclave-id "$id" --port 5000 --listen 127.0.0.1:0 > "$TEST_TMP/fwd.json" 2>"$TEST_TMP/fwd.err" &
fwd=$!
for _ in $(seq 50); do [ -s "$TEST_TMP/fwd.json" ] && break; sleep 0.1; done
listen=$(jq -r .Listen "$TEST_TMP/fwd.json")
echo "forward listens on $listen"
# The enclave refuses (no listener): the TCP client sees the connection closed, no bytes.
got=$(timeout 10 python3 - "$listen" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"x")
try:
    print(len(s.recv(10)))
except ConnectionResetError:  # closed with our byte unread: also "no bytes"
    print(0)
PY
)
[ "$got" = 0 ] || fail "forwarded connection to a refusing port must just close (got $got bytes)"

"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
[ ! -e "$sock" ] || fail "vsock socket left behind after stop"
# forward notices the enclave is gone and exits by itself.
for _ in $(seq 30); do kill -0 "$fwd" 2>/dev/null || break; sleep 0.2; done
kill -0 "$fwd" 2>/dev/null && { kill "$fwd"; fail "vsock forward did not exit after the enclave ended"; }
wait "$fwd" || true
expect_contains "$(cat "$TEST_TMP/fwd.err")" "has ended"
[ "$(free_2m)" = "$before" ] || fail "hugepages still in use"

# An enclave whose control socket is removed can no longer be stopped by anyone: its daemon ends
# it (within 2 s) instead of leaving an orphan that holds hugepages.
out=$("$QT_VMM" enclave start --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus --heartbeat-timeout 0)
id=$(jq -r .EnclaveID <<<"$out"); pid=$(jq -r .ProcessID <<<"$out")
rm "$QT_VMM_RUN_DIR/$id.sock"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon of an enclave whose socket was removed is still running"
[ "$(jq -r .Detail "$QT_VMM_RUN_DIR/$id.json")" = "its control socket $QT_VMM_RUN_DIR/$id.sock was removed, so nobody could stop it any more" ] \
  || fail "record: $(cat "$QT_VMM_RUN_DIR/$id.json")"
[ "$(free_2m)" = "$before" ] || fail "hugepages still in use after the orphan ended"
echo "ok"
