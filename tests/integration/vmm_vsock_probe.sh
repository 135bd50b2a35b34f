#!/usr/bin/env bash
# The virtio-vsock device under KVM, driven by the probe guest's own virtio driver
# (tests/guests/probe/vsock.c; this host's nested KVM cannot run a Linux guest's user mode):
#   1. vsock-heartbeat: `enclave start` returns only once the guest's 0xB7 came back (Heartbeat
#      true, LaunchMonotonicNs.Heartbeat set); the guest stays up, idle on its interrupt. A probe
#      that never sends it makes `start` fail with NO_HEARTBEAT.
#   2. vsock-echo: 130 parent connections open at once through the hybrid socket
#      (`CONNECT 5000`), each echoed byte for byte; one parent that does not read for a while
#      (credit both ways); a port nobody listens on is closed without "OK"; `qt-vmm vsock
#      connect` works; the guest reports no credit overrun and no bad header.
#   3. vsock-selftest: every `PROBE vsock_test NAME=pass` line (feature negotiation, reset and
#      re-initialisation, heartbeats to CID 3 and 2, RSTs, half-close, credit in both directions,
#      malformed descriptor chains and headers, tx without rx buffers, app status); the parent
#      side of its connections (a listener on <VsockSocket>_7000) saw each exchange; query shows
#      the app status it sent (exit code 0 = every check before it passed).
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
command -v python3 >/dev/null || fail "python3 missing; run scripts/install-deps.sh"
vmm_setup

checks=0
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
since_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
start_enclave() { # EIF CID [extra start options...]: prints start's JSON
  local eif=$1 cid=$2; shift 2
  "$QT_VMM" enclave start --eif "$eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode --hugepage-size 2M --cid "$cid" "$@"
}
console_of() { "$QT_VMM" enclave console --enclave-id "$1" --no-follow; }
# wait_console ID TEXT [seconds]: until the console shows TEXT
wait_console() {
  local i
  for ((i = 0; i < ${3:-60} * 10; i++)); do
    grep -qF -- "$2" <<<"$(console_of "$1")" && return 0
    sleep 0.1
  done
  console_of "$1" | tail -n 30 >&2
  fail "enclave $1 did not print: $2"
}

# --- 1. heartbeat --------------------------------------------------------------------------------
echo "== vsock-heartbeat: start waits for the 0xB7 round trip"
probe_eif "$TEST_TMP/hb.eif" "probe.mode=vsock-heartbeat"
t0=$(date +%s%N)
out=$(start_enclave "$TEST_TMP/hb.eif" 21 --heartbeat-timeout 60)
start_ms=$(since_ms "$t0")
echo "$out"
id=$(jq -r .EnclaveID <<<"$out")
[ "$(jq -r .Heartbeat <<<"$out")" = true ] || fail "start returned without the heartbeat"
hb_ns=$(jq -r .LaunchMonotonicNs.Heartbeat <<<"$out")
vcpus_ns=$(jq -r .LaunchMonotonicNs.VcpusStarted <<<"$out")
[ "$hb_ns" -gt "$vcpus_ns" ] 2>/dev/null || fail "LaunchMonotonicNs.Heartbeat ($hb_ns) not after VcpusStarted ($vcpus_ns)"
ok "start returned after the heartbeat ($start_ms ms; heartbeat $(( (hb_ns - vcpus_ns) / 1000 )) us after the vCPUs started)"
sock=$(jq -r .VsockSocket <<<"$out")
[ -S "$sock" ] || fail "VsockSocket $sock is not a socket"
ok "VsockSocket $sock"
console=$(console_of "$id")
echo "$console"
expect_contains "$console" "PROBE start entry=64 mode=vsock-heartbeat"
expect_contains "$console" "PROBE vsock_init=ok cid=21 base=0xd0000000 irq=5 features=0x120000000"
expect_contains "$console" "PROBE vsock_heartbeat=ok us="
ok "guest: device found through the command line, VERSION_1 + EVENT_IDX, heartbeat answered"
wait_console "$id" "PROBE vsock_idle" 10
sleep 1
[ "$(enclave_field "$id" State)" = RUNNING ] || fail "the heartbeat probe should stay up"
ok "the guest stays up (idle) after its heartbeat"
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
[ -e "$sock" ] && fail "VsockSocket left behind after stop"
ok "stop removes the vsock socket"

echo "== a guest without a heartbeat: start gives up"
probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
t0=$(date +%s%N)
if err=$(start_enclave "$TEST_TMP/hlt.eif" 22 --heartbeat-timeout 2 2>&1); then
  fail "start of a guest that never sends the heartbeat succeeded: $err"
fi
echo "$err"
expect_contains "$err" "NO_HEARTBEAT"
ok "no heartbeat within 2 s: start fails with NO_HEARTBEAT after $(since_ms "$t0") ms"
for s in "$QT_VMM_RUN_DIR"/*.sock; do [ -e "$s" ] && "$QT_VMM" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null; done
"$QT_VMM" enclave query | jq -r '.[].EnclaveID' | while read -r old; do "$QT_VMM" enclave stop --enclave-id "$old" >/dev/null 2>&1 || true; done

# --- 2. echo ---------------------------------------------------------------------------------------
echo "== vsock-echo: 130 concurrent connections, flow control, refused port"
conns=130
probe_eif "$TEST_TMP/echo.eif" "probe.mode=vsock-echo probe.port=5000 probe.echo_conns=$((conns + 2))"
out=$(start_enclave "$TEST_TMP/echo.eif" 23)
id=$(jq -r .EnclaveID <<<"$out")
sock=$(jq -r .VsockSocket <<<"$out")
wait_console "$id" "PROBE vsock_echo listening port=5000" 30
t0=$(date +%s%N)
python3 - "$sock" "$conns" <<'PY' || { console_of "$id" | tail -n 20 >&2; fail "echo through the hybrid socket failed"; }
import asyncio, os, random, sys, time
path, count = sys.argv[1], int(sys.argv[2])
random.seed(6)

async def connect(port):
    r, w = await asyncio.open_unix_connection(path)
    w.write(b"CONNECT %d\n" % port)
    await w.drain()
    line = await asyncio.wait_for(r.readline(), 30)
    return r, w, line

async def echo(r, w, data, pause=0.0):
    async def writer():
        w.write(data)
        await w.drain()
        w.write_eof()
    task = asyncio.ensure_future(writer())
    if pause:
        await asyncio.sleep(pause)  # not reading: the guest and the device must hold back
    got = await asyncio.wait_for(r.read(), 120)
    await task
    w.close()
    return got

async def main():
    gate = asyncio.Semaphore(32)  # the device's listen backlog is 128
    async def opened(i):
        async with gate:
            return await connect(5000)
    t = time.time()
    links = await asyncio.gather(*(opened(i) for i in range(count)))
    bad = [l for _, _, l in links if not l.startswith(b"OK ")]
    assert not bad, "CONNECT without OK: %r" % bad[:3]
    ports = {int(l.split()[1]) for _, _, l in links}
    assert len(ports) == count, "host ports not unique"
    print("%d connections open at once (%.2f s)" % (count, time.time() - t))
    t = time.time()
    payloads = [os.urandom(random.randint(1, 6000)) for _ in range(count)]
    fr, fw, fl = await connect(5000)
    assert fl.startswith(b"OK "), fl
    flow = os.urandom(256 * 1024)
    results = await asyncio.gather(echo(fr, fw, flow, pause=2.0),
                                   *(echo(r, w, p) for (r, w, _), p in zip(links, payloads)))
    assert results[0] == flow, "flow-control connection: %d of %d bytes came back intact" % (len(results[0]), len(flow))
    for i, (got, want) in enumerate(zip(results[1:], payloads)):
        assert got == want, "connection %d: sent %d bytes, got %d back (equal prefix: %s)" % (
            i, len(want), len(got), want.startswith(got))
    total = sum(map(len, payloads)) + len(flow)
    print("echoed %d bytes: %d connections + one of 256 KiB whose parent paused reading 2 s (%.2f s)" % (
        total, count, time.time() - t))
    r, w, line = await connect(5001)
    rest = await asyncio.wait_for(r.read(), 10)
    assert line == b"" and rest == b"", "port 5001 (nobody listens) answered %r %r" % (line, rest)
    print("CONNECT 5001 (no listener): closed without OK")

asyncio.run(main())
PY
ok "130 concurrent echo connections + a 256 KiB flow-controlled one, byte for byte ($(since_ms "$t0") ms)"
ok "a port nobody listens on is closed without OK"
reply=$(printf 'through qt-vmm vsock connect\n' | timeout 30 "$QT_VMM" vsock connect --enclave-id "$id" --port 5000)
[ "$reply" = "through qt-vmm vsock connect" ] || fail "qt-vmm vsock connect echoed: $reply"
ok "qt-vmm vsock connect reaches the echo port"
wait_terminated "$id" 60
console=$(console_of "$id")
echo "$console" | grep -E 'PROBE (vsock|start)'
expect_contains "$console" "PROBE vsock_echo done closed=$((conns + 2)) accepted=$((conns + 2)) refused=0"
expect_contains "$console" "overruns=0 rx_bad=0"
ok "guest: $((conns + 2)) connections accepted and closed cleanly, no credit overrun, no bad header"
[ "$(enclave_field "$id" Reason)" = guest-reset ] || fail "the echo probe should end by its own power-off"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null

# --- 3. selftest -----------------------------------------------------------------------------------
echo "== vsock-selftest"
probe_eif "$TEST_TMP/self.eif" "probe.mode=vsock-selftest probe.out_port=7000"
t0=$(date +%s%N)
out=$(start_enclave "$TEST_TMP/self.eif" 24)
id=$(jq -r .EnclaveID <<<"$out")
sock=$(jq -r .VsockSocket <<<"$out")
[ "$(jq -r .Heartbeat <<<"$out")" = true ] || fail "selftest: start returned without the heartbeat"
# The parent side of the guest's connections to port 7000 (the guest retries until it exists).
parent_log="$TEST_TMP/parent.log"
python3 - "${sock}_7000" "$parent_log" <<'PY' &
import socket, sys, threading
path, log = sys.argv[1], sys.argv[2]
lock, held = threading.Lock(), []
def note(text):
    with lock, open(log, "a") as f:
        f.write(text + "\n")
def serve(c):
    f = c.makefile("rb")
    line = f.readline()
    if line == b"HELLO probe\n":
        c.sendall(b"HELLO parent\n")
        note("HELLO ok rest=%d" % len(f.read()))
    elif line.startswith(b"BULK "):
        n = int(line.split()[1])
        c.sendall(bytes((i * 7 + 3) & 255 for i in range(n)))
        note("BULK sent %d rest=%d" % (n, len(f.read())))
    elif line == b"SINK\n":
        held.append(c)  # never read: the device's buffer fills and the guest's credit runs out
        note("SINK open")
        return
    elif line == b"HALF\n":
        rest = f.read()  # the guest shut down its sending side: EOF, yet it still receives
        c.sendall(b"GOT %d\n" % len(rest))
        note("HALF eof after %d, answered" % len(rest))
    elif line == b"SENDCLOSE\n":
        c.sendall(b"bye\n")  # and close at once: the guest must see the data, then the end
        note("SENDCLOSE closed")
    elif line == b"HOLD\n":
        note("HOLD eof rest=%d" % len(f.read()))  # ends when the guest resets the device
    elif line == b"":
        note("EMPTY eof")
    else:
        note("UNKNOWN %r" % line)
    c.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
note("listening")
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
parent_pid=$!
trap 'kill $parent_pid 2>/dev/null || true; vmm_cleanup' EXIT
wait_terminated "$id" 120
selftest_ms=$(since_ms "$t0")
kill $parent_pid 2>/dev/null || true
console=$(console_of "$id")
echo "$console" | grep -E '^PROBE (vsock|start)'
echo "---- parent side"; cat "$parent_log"
selftest_checks=(identity features_offered features_ok_refused_without_version_1 queue_ready_refused_before_features_ok \
  reset_after_failed driver_ok_refused_without_features_ok config_cid_any_width init heartbeat_cid3 heartbeat_cid2 \
  interrupts rst_no_listener rst_other_cid rst_cid_1 rst_seqpacket_type rst_unknown_op heartbeat_wrong_byte_reset \
  malformed_addr_beyond_ram malformed_addr_mmio malformed_len_past_ram_end malformed_len_4g malformed_write_only_tx \
  malformed_next_loop malformed_short_header malformed_readable_after_writable malformed_next_out_of_range \
  malformed_src_cid_dropped \
  split_header_accepted rw_len_beyond_chain_reset rw_over_64k_reset alive_after_malformed no_reply_to_malformed \
  parent_listener guest_to_parent_exchange half_close parent_close_seen credit_small_buf_alloc credit_respected_no_rst credit_request_answered \
  credit_violation_reset hold_connection avail_idx_beyond_ring_ignored reset reinit_without_event_idx \
  tx_processed_without_rx_buffers heartbeat_after_reset malformed_rx_buffer_returned exchange_after_reset \
  device_headers_valid app_status app_status_oversized_reset)
missing=()
for t in "${selftest_checks[@]}"; do
  if grep -qF "PROBE vsock_test $t=pass" <<<"$console"; then ok "selftest: $t"; else missing+=("$t"); fi
done
if [ ${#missing[@]} -ne 0 ]; then
  grep -F '=fail' <<<"$console" >&2 || true
  fail "selftest checks that did not pass: ${missing[*]}"
fi
expect_not_contains "$console" "=fail"
expect_contains "$console" "PROBE vsock_selftest done passed=${#selftest_checks[@]} failed=0"
parent=$(cat "$parent_log")
expect_contains "$parent" "EMPTY eof"
[ "$(grep -c '^HELLO ok rest=0$' "$parent_log")" = 2 ] || fail "the parent should have answered two HELLO exchanges"
expect_contains "$parent" "BULK sent 8192 rest=0"
expect_contains "$parent" "SINK open"
expect_contains "$parent" "HOLD eof rest=0"
expect_contains "$parent" "HALF eof after 16, answered"
expect_contains "$parent" "SENDCLOSE closed"
ok "parent side: two HELLO exchanges, half-close, write-and-close, BULK, SINK, and EOF on the held connection at the device reset"
record=$(enclave_json "$id")
echo "$record" | jq '.[0] | {Reason, AppStatus, Heartbeat}'
[ "$(jq -r '.[0].Reason' <<<"$record")" = guest-reset ] || fail "the selftest should end by its own power-off"
[ "$(jq -r '.[0].AppStatus.Kind' <<<"$record")" = exited ] || fail "no app status from port 9001 in query"
[ "$(jq -r '.[0].AppStatus.ExitCode' <<<"$record")" = 0 ] || fail "app status exit code is not 0"
ok "query shows the app status record the guest sent to port 9001 (exited, 0) (selftest $selftest_ms ms)"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
echo "vmm_vsock_probe: $checks checks passed"
