#!/usr/bin/env bash
# Hostile local user against an enclave's control socket (issue 14, findings 1-3 and "every
# request handled in isolation"), on a KVM probe guest that halts forever:
#   - malformed requests (wrong types, non-objects, unknown ops, an over-long line) each get a
#     one-line error reply and the daemon lives on;
#   - 80 silent connections by one user cannot lock the owner out (query, stop), and are dropped
#     after the request deadline; the daemon's RLIMIT_NOFILE is raised to the designed 1,408;
#   - a stopped (SIGSTOP) daemon still holds its CID: query returns, shows it as not answering,
#     and a second start with the same --cid is refused.
# The non-root peer is a member of group qt-vmm (who may reach the sockets), uid nobody.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

PY=/usr/bin/python3
[ -x "$PY" ] || fail "python3 missing; run scripts/install-deps.sh"
groupadd -f qt-vmm
member=(setpriv --reuid=65534 --regid=65534 --groups="$(getent group qt-vmm | cut -d: -f3)")
chmod 0755 "$TEST_TMP" "$QT_VMM_RUN_DIR"

# client.py SOCKET LINE: sends LINE (Python escapes allowed) and prints the reply line.
cat > "$TEST_TMP/client.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1"))
reply = b""
while not reply.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
sys.stdout.write(reply.decode("utf-8", "replace"))
PY
# fill.py SOCKET N: opens up to N connections without waiting (fills a stopped daemon's
# listen backlog), then sleeps until killed.
cat > "$TEST_TMP/fill.py" <<'PY'
import socket, sys, time
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        pass
    conns.append(s)
print("filled", flush=True)
time.sleep(600)
PY
# hold.py SOCKET N: opens N silent connections, says "held", then waits until the daemon has
# hung up on every one and prints how many it dropped.
cat > "$TEST_TMP/hold.py" <<'PY'
import socket, sys
conns = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])  # blocking: waits while the listen backlog is full
    s.settimeout(60)
    conns.append(s)
print("held", flush=True)
sys.stdin.readline()
dropped = 0
for s in conns:
    try:
        while s.recv(4096):
            pass
        dropped += 1
    except socket.timeout:
        pass
print("dropped", dropped, flush=True)
PY

probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
# Started with the usual soft limit of 1,024 descriptors: the daemon raises its own.
out=$(ulimit -Sn 1024; "$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128 --cid 20 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
pid=$(enclave_field "$id" ProcessID)
sock="$QT_VMM_RUN_DIR/$id.sock"

echo "== the daemon's RLIMIT_NOFILE holds what the design needs (1,408)"
grep "Max open files" "/proc/$pid/limits"
soft=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
[ "$soft" -ge 1408 ] || fail "the daemon's soft RLIMIT_NOFILE is $soft, below the 1,408 it is designed for"

echo "== malformed requests from another local user: an error reply each, the daemon lives on"
ask() { "${member[@]}" "$PY" "$TEST_TMP/client.py" "$sock" "$1"; }
check_refused() {
  local line=$1 want=$2 reply
  reply=$(ask "$line")
  echo "${line:0:60} -> $reply"
  [ "$(jq -r .ok <<<"$reply")" = false ] || fail "'$line' should get an error reply, got: $reply"
  expect_contains "$(jq -r .code <<<"$reply")" "$want" "the code for '$line'"
  [ -n "$(jq -r .message <<<"$reply")" ] || fail "no message for '$line'"
  kill -0 "$pid" 2>/dev/null || fail "the daemon died on '$line'"
}
check_refused '{"op":1}\n' BAD_REQUEST
check_refused '{"op":null}\n' BAD_REQUEST
check_refused '{"op":["describe"]}\n' BAD_REQUEST
check_refused '{}\n' BAD_REQUEST
check_refused '[1,2]\n' BAD_REQUEST
check_refused '"describe"\n' BAD_REQUEST
check_refused '7\n' BAD_REQUEST
check_refused 'not json\n' BAD_REQUEST
check_refused '\xff\xfe{"op":"describe"}\n' BAD_REQUEST
check_refused '{"op":"reboot"}\n' BAD_REQUEST
check_refused '{"op":"stop"}\n' NOT_OWNER
check_refused "$(printf '%*s' 5000 '' | tr ' ' x)" REQUEST_TOO_LONG
# Root may read the console: a wrong type for "follow" is refused, not thrown.
reply=$("$PY" "$TEST_TMP/client.py" "$sock" '{"op":"console","follow":"yes"}\n')
echo "root console follow=\"yes\" -> $reply"
expect_eq "$(jq -r .code <<<"$reply")" BAD_REQUEST "the code for follow=\"yes\""
kill -0 "$pid" 2>/dev/null || fail "the daemon died on follow=\"yes\""
expect_eq "$(enclave_field "$id" State)" RUNNING "state after the malformed requests"

echo "== 80 silent connections by one user: the owner still queries, and they are dropped"
coproc HOLD { exec "${member[@]}" "$PY" "$TEST_TMP/hold.py" "$sock" 80; }
hold_pid=$HOLD_PID # bash unsets HOLD_PID once the coprocess ends (set -u then fails on it)
read -r -u "${HOLD[0]}" held
expect_eq "$held" held "the holder"
expect_eq "$(enclave_field "$id" State)" RUNNING "state with 80 silent connections held"
echo >&"${HOLD[1]}"
read -r -u "${HOLD[0]}" word dropped
echo "the daemon hung up on $dropped of 80 silent connections"
expect_eq "$dropped" 80 "silent connections dropped by the request deadline"
wait "$hold_pid" 2>/dev/null || true

echo "== a stopped daemon still holds its CID and is shown as not answering"
kill -STOP "$pid"
# Its listen backlog full too: connect() alone would wait for room forever. (exec: FILL_PID is
# the filler itself, so killing it leaves nothing behind.)
coproc FILL { exec "${member[@]}" "$PY" "$TEST_TMP/fill.py" "$sock" 40; }
fill_pid=$FILL_PID # bash unsets FILL_PID once the coprocess ends
trap 'kill -CONT '"$pid"' 2>/dev/null || true; kill '"$fill_pid"' 2>/dev/null || true; vmm_cleanup' EXIT
read -r -u "${FILL[0]}" filled
expect_eq "$filled" filled "the backlog filler"
q=$(timeout 15 "$QT_VMM" enclave query) || fail "query with a stopped daemon and a full backlog did not return"
echo "$q"
expect_eq "$(jq -r ".[] | select(.EnclaveID == $id) | .EnclaveCID" <<<"$q")" 20 "the stopped daemon's CID in query"
expect_eq "$(jq -r ".[] | select(.EnclaveID == $id) | .State" <<<"$q")" NOT-RESPONDING "the stopped daemon's state"
set +e
err=$(timeout 60 "$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128 --cid 20 2>&1 >/dev/null)
status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "a second start with the stopped daemon's CID must be refused (status $status)"
expect_contains "$err" CID_IN_USE
kill "$fill_pid" 2>/dev/null || true
wait "$fill_pid" 2>/dev/null || true
kill -CONT "$pid"

echo "== the owner stops the enclave while another user holds silent connections"
coproc HOLD2 { exec "${member[@]}" "$PY" "$TEST_TMP/hold.py" "$sock" 80; }
hold2_pid=$HOLD2_PID
read -r -u "${HOLD2[0]}" held
expect_eq "$held" held "the second holder"
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
echo >&"${HOLD2[1]}"
wait "$hold2_pid" 2>/dev/null || true
[ "$("$QT_VMM" enclave query)" = "[]" ] || fail "query not empty after stop"
echo "ok"
