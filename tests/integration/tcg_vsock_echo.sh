#!/usr/bin/env bash
# Parent → enclave over vsock, whole enclave under --accel tcg (real kernel, init, app, device):
# app_vsock serves echo on port 5000. Checked byte for byte:
#   - the raw hybrid protocol (CONNECT 5000 / OK n) with 8 concurrent connections, half-close
#     honoured (the echo ends with EOF only after the parent's own EOF, and a parent that
#     half-closes right after its payload still gets the whole echo back);
#   - `qt-vmm vsock connect` bridging 1 MiB of stdin to stdout;
#   - `qt-vmm vsock forward` over TCP with 20 concurrent clients;
#   - CONNECT to a port nobody listens on: the socket is closed without "OK", `vsock connect`
#     exits 4, a forwarded TCP client is closed;
#   - `vsock forward` exits when the enclave ends.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

tcg_image echo '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/echo.eif"
wait_console "$ID" "VSOCK ready" 30

# 1. Raw hybrid vsock, 8 connections open at once, payloads up to 256 KiB each.
out=$(timed raw-echo "$PEER" echo --socket "$VSOCK" --port 5000 --conns 8 --bytes 262144 --timeout 60) || { echo "$out"; fail "raw echo"; }
echo "$out"
expect_contains "$out" "PEER echo established=8 concurrently"
expect_contains "$out" "verified=8 eof=8"
expect_contains "$out" "result=OK"

# ... and with each connection half-closed right after its payload: the echo still comes back
# in full, then EOF.
out=$(timed raw-echo-halfclose "$PEER" echo --socket "$VSOCK" --port 5000 --conns 8 --bytes 262144 --early-shutdown 1 --timeout 60) || { echo "$out"; fail "raw echo with early half-close"; }
echo "$out"
expect_contains "$out" "verified=8 eof=8"
expect_contains "$out" "result=OK"

# 2. qt-vmm vsock connect: stdin → enclave → stdout, then EOF both ways.
head -c 1048576 /dev/urandom > "$TEST_TMP/in.bin"
rc=0
timed vsock-connect timeout 60 "$QT_VMM" vsock connect --enclave-id "$ID" --port 5000 <"$TEST_TMP/in.bin" >"$TEST_TMP/out.bin" 2>"$TEST_TMP/connect.err" || rc=$?
cat "$TEST_TMP/connect.err"
expect_eq "$rc" 0 "vsock connect exit status"
cmp "$TEST_TMP/in.bin" "$TEST_TMP/out.bin" || fail "vsock connect: the echo differs from what was sent ($(stat -c %s "$TEST_TMP/out.bin") bytes back)"

# 3. Nothing listens on 5999: closed without OK, by the raw protocol and by vsock connect.
rc=0; out=$("$PEER" probe --socket "$VSOCK" --port 5999 --timeout 10) || rc=$?
echo "$out"
expect_eq "$rc" 3 "probe exit status for a port with no listener"
expect_contains "$out" "result=CLOSED"
rc=0; err=$(echo hi | timeout 20 "$QT_VMM" vsock connect --enclave-id "$ID" --port 5999 2>&1 >/dev/null) || rc=$?
echo "vsock connect to 5999: exit $rc: $err"
expect_eq "$rc" 4 "vsock connect exit status for a port with no listener"
# ... and the service on 5000 is unaffected.
out=$("$PEER" probe --socket "$VSOCK" --port 5000 --timeout 10) || fail "probe 5000 after the refused one: $out"

# 4. vsock forward over TCP: 20 clients at once.
"$QT_VMM" vsock forward --enclave-id "$ID" --port 5000 --listen 127.0.0.1:0 >"$TEST_TMP/forward.json" 2>"$TEST_TMP/forward.err" &
fwd_pid=$!
for i in $(seq 100); do grep -q Listen "$TEST_TMP/forward.json" 2>/dev/null && break; sleep 0.1; done
listen=$(jq -r .Listen "$TEST_TMP/forward.json") || fail "forward printed no JSON: $(cat "$TEST_TMP/forward.err")"
echo "forward: $(cat "$TEST_TMP/forward.json")"
out=$(timed forward-echo "$PEER" echo --tcp "$listen" --conns 20 --bytes 65536 --timeout 60) || { echo "$out"; fail "echo through vsock forward"; }
echo "$out"
expect_contains "$out" "verified=20 eof=20"
expect_contains "$out" "result=OK"
# A forward to a port with nothing behind it: the TCP client is closed without data.
"$QT_VMM" vsock forward --enclave-id "$ID" --port 5999 --listen 127.0.0.1:0 >"$TEST_TMP/forward2.json" 2>"$TEST_TMP/forward2.err" &
fwd2_pid=$!
for i in $(seq 100); do grep -q Listen "$TEST_TMP/forward2.json" 2>/dev/null && break; sleep 0.1; done
listen2=$(jq -r .Listen "$TEST_TMP/forward2.json")
got=$(timeout 20 python3 - "$listen2" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=15)
s.sendall(b"hello")
try:
    data = s.recv(100)
    print("EOF" if data == b"" else "DATA %r" % data)
except ConnectionResetError:
    print("RESET")
PY
) || fail "TCP client to a forward of an unserved port did not finish"
echo "forward to 5999: $got; its stderr: $(cat "$TEST_TMP/forward2.err")"
case "$got" in EOF|RESET) ;; *) fail "forward to a port with no listener: expected EOF or reset, got $got" ;; esac

# 5. The enclave is still serving; stop it: the forwards exit by themselves.
expect_eq "$(field "$ID" State)" RUNNING "State before stop"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null
for i in $(seq 100); do kill -0 "$fwd_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fwd_pid" 2>/dev/null && fail "vsock forward still running 10 s after the enclave ended"
rc=0; wait "$fwd_pid" || rc=$?
echo "vsock forward exited with $rc: $(cat "$TEST_TMP/forward.err")"
for i in $(seq 100); do kill -0 "$fwd2_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$fwd2_pid" 2>/dev/null && fail "second vsock forward still running after the enclave ended"
expect_gone "$QEMU_PID" QEMU
echo PASS
