# tests/hostile_guest_lib.sh — the hostile-guest suite's harness (tests/integration/hostile_guest_*.sh),
# sourced after tests/lib.sh and tests/vmm_lib.sh (vmm_setup first). Under this host's KVM, with
# the probe guest's hostile modes (tests/guests/probe/vsock_hostile.c):
#
#   hostile_setup                  starts the witness: a vsock-echo enclave (CID 40)
#   hostile_round MODE [OPTIONS]   one comparison, in the same run and on the same CPUs:
#       1. a benign busy guest (probe.mode=spin) next to the witness: the witness's echo rate R0;
#       2. the hostile guest (probe.mode=MODE OPTIONS) in its place: the rate R1, while `query`
#          of both enclaves is timed every 0.5 s and the hostile daemon's RSS outside guest RAM
#          is sampled;
#       then checks R1 >= R0 / 2, every query < 1 s, the RSS bound (HOSTILE_RSS_MIB, default 96),
#       both daemons alive, the hostile enclave stopped by `stop`. Prints one "ok" line with the
#       figures (also appended to $TEST_TMP/figures.txt).
#   HOSTILE_SECONDS (default 6): each measurement's length. HOSTILE_FEED=1: during 2., a parent
#   keeps writing to the hostile enclave's port 5000 (for modes that listen, e.g. credit lies).
#   HOSTILE_EXPECT='jq filter': must hold on the hostile enclave's query entry after 2. (that the
#   attack did what it says, e.g. '.VsockDevice.Connections == 1024').

HOSTILE_SECONDS=${HOSTILE_SECONDS:-6}
HOSTILE_RSS_MIB=${HOSTILE_RSS_MIB:-96}
hostile_checks=0

hostile_start() { # EIF CID: prints the enclave ID
  "$QT_VMM" enclave start --eif "$1" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode --hugepage-size 2M --cid "$2" --heartbeat-timeout 0 \
    | jq -r .EnclaveID
}

hostile_wait_console() { # ID TEXT SECONDS
  console_shows "$@" && return 0
  "$QT_VMM" enclave console --enclave-id "$1" --no-follow | tail -n 20 >&2
  fail "enclave $1 did not print: $2"
}

hostile_setup() {
  probe_eif "$TEST_TMP/witness.eif" "probe.mode=vsock-echo probe.port=5000"
  probe_eif "$TEST_TMP/benign.eif" "probe.mode=spin probe.tick_ms=1000"
  HOSTILE_WITNESS=$(hostile_start "$TEST_TMP/witness.eif" 40)
  hostile_wait_console "$HOSTILE_WITNESS" "PROBE vsock_echo listening port=5000" 60
  HOSTILE_WITNESS_SOCK=$("$QT_VMM" enclave query --enclave-id "$HOSTILE_WITNESS" | jq -r '.[0].VsockSocket')
}

# The harness itself: echo rate, query times, RSS samples, an optional feeder; prints
# "rate=<bytes/s> query_max_ms=<ms> queries=<n> rss_max_kib=<KiB>".
hostile_measure() { # SECONDS WITNESS_ID OTHER_ID FEED_SOCKET_OR_EMPTY
  python3 - "$HOSTILE_WITNESS_SOCK" "$1" "$QT_VMM" "$2" "$3" "${4:-}" <<'PY'
import json, os, re, socket, subprocess, sys, threading, time
sock, seconds, qt_vmm, witness, other, feed = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
stop = threading.Event()
errors = []

def connect(path, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise SystemExit("connection to %s port %d refused" % (path, port))
        line += b
    return s

echoed = [0]
def echo_client():
    s = connect(sock, 5000)
    data = bytes(range(256)) * 16
    while not stop.is_set():
        s.sendall(data)
        got = 0
        while got < len(data):
            chunk = s.recv(65536)
            if not chunk:
                errors.append("the witness closed an echo connection")
                return
            got += len(chunk)
        echoed[0] += len(data)
    s.close()

def feeder():
    try:
        s = connect(feed, 5000)
        s.settimeout(0.5)
        data = b"x" * 65536
        while not stop.is_set():
            try:
                s.sendall(data)
            except (socket.timeout, OSError):
                pass
    except (OSError, SystemExit):
        pass  # the hostile guest may refuse or reset: that is its business

def rss_kib(pid):
    total = kps = rss = 0
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    if kps and kps <= 4:
                        total += rss
                    kps = rss = 0
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("KernelPageSize:"):
                    kps = int(line.split()[1])
        if kps and kps <= 4:
            total += rss
    except OSError:
        return -1
    return total

queries, rss = [], []
def watcher():
    while not stop.is_set():
        for eid in (witness, other):
            t0 = time.monotonic()
            out = subprocess.run([qt_vmm, "enclave", "query", "--enclave-id", eid], capture_output=True, text=True)
            ms = (time.monotonic() - t0) * 1000
            listed = json.loads(out.stdout) if out.returncode == 0 else []
            if not listed:
                errors.append("query of enclave %s failed or did not list it: %s" % (eid, out.stderr.strip()))
                continue
            queries.append((ms, eid))
            if eid == other:
                pid = listed[0].get("ProcessID")
                if pid:
                    rss.append(rss_kib(int(pid)))
        time.sleep(0.5)

threads = [threading.Thread(target=echo_client) for _ in range(4)]
threads.append(threading.Thread(target=watcher))
if feed:
    threads.append(threading.Thread(target=feeder, daemon=True))
t0 = time.monotonic()
for t in threads:
    t.start()
time.sleep(seconds)
stop.set()
for t in threads[:5]:
    t.join(30)
elapsed = time.monotonic() - t0
if errors or not queries:
    sys.exit("; ".join(sorted(set(errors))) or "no query answered")
slow = [q for q in queries if q[0] >= 1000]
print("rate=%d query_max_ms=%d queries=%d rss_max_kib=%d slow=%s" % (echoed[0] / elapsed, max(q[0] for q in queries), len(queries),
      max(rss) if rss else -1, ",".join("%s:%dms" % (e, ms) for ms, e in slow) or "none"))
PY
}

field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

hostile_round() { # MODE [probe options...]
  local mode=$1; shift
  local options="$*" base hostile id sock pid r0 r1
  probe_eif "$TEST_TMP/$mode.eif" "probe.mode=$mode $options"
  # 1. the benign busy guest
  id=$(hostile_start "$TEST_TMP/benign.eif" 41)
  hostile_wait_console "$id" "PROBE spin" 30
  base=$(hostile_measure "$HOSTILE_SECONDS" "$HOSTILE_WITNESS" "$id" "") || fail "$mode: the baseline measurement failed"
  "$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null || fail "$mode: stop of the benign guest failed"
  # 2. the hostile guest in its place
  id=$(hostile_start "$TEST_TMP/$mode.eif" 42)
  hostile_wait_console "$id" "PROBE hostile=$mode started" 60
  sock=$("$QT_VMM" enclave query --enclave-id "$id" | jq -r '.[0].VsockSocket')
  pid=$("$QT_VMM" enclave query --enclave-id "$id" | jq -r '.[0].ProcessID')
  hostile=$(hostile_measure "$HOSTILE_SECONDS" "$HOSTILE_WITNESS" "$id" "$([ "${HOSTILE_FEED:-0}" = 1 ] && echo "$sock")") \
    || fail "$mode: the measurement under the hostile guest failed"
  echo "$mode: benign $base"
  echo "$mode: hostile $hostile"
  r0=$(field rate "$base")
  r1=$(field rate "$hostile")
  [ "$(field slow "$base")" = none ] || fail "$mode: a query took 1 s or more next to the benign guest: $(field slow "$base")"
  [ "$(field slow "$hostile")" = none ] || fail "$mode: a query took 1 s or more next to the hostile guest: $(field slow "$hostile")"
  [ "$r0" -gt 0 ] || fail "$mode: the witness echoed nothing next to the benign guest"
  [ $((r1 * 2)) -ge "$r0" ] || fail "$mode: the witness's echo rate fell below half: $r1 B/s vs $r0 B/s next to a benign guest"
  local rss=$(field rss_max_kib "$hostile")
  [ "$rss" -le $((HOSTILE_RSS_MIB * 1024)) ] || fail "$mode: the hostile daemon's RSS outside guest RAM reached $rss KiB (bound $HOSTILE_RSS_MIB MiB)"
  if ! kill -0 "$pid" 2>/dev/null; then # ended: fine if the guest ended it, not if the daemon died
    local reason=$(enclave_field "$id" Reason)
    [ "$(enclave_field "$id" State)" = TERMINATED ] && [ "${reason#daemon-}" = "$reason" ] \
      || fail "$mode: the hostile enclave's daemon died: $(enclave_json "$id" | jq -c '.[0] | {State, Reason, Detail}')"
  fi
  if [ -n "${HOSTILE_EXPECT:-}" ]; then
    [ "$(enclave_json "$id" | jq ".[0] | $HOSTILE_EXPECT")" = true ] \
      || { enclave_json "$id" >&2; fail "$mode: the attack did not do what it should: $HOSTILE_EXPECT"; }
  fi
  [ "$(enclave_field "$HOSTILE_WITNESS" State)" = RUNNING ] || fail "$mode: the witness is no longer running"
  local state=$(enclave_field "$id" State)
  if [ "$state" != TERMINATED ]; then
    "$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null || fail "$mode: stop of the hostile enclave failed (state $state)"
  fi
  local ratio=$(( r1 * 100 / r0 ))
  hostile_checks=$((hostile_checks + 1))
  echo "ok $hostile_checks - $mode: witness echo $r1 B/s = $ratio% of $r0 B/s next to a busy benign guest; query max $(field query_max_ms "$hostile") ms ($(field queries "$hostile") asked); hostile daemon RSS outside guest RAM <= $((rss / 1024)) MiB; both daemons alive; hostile ended or stopped ($state)${HOSTILE_EXPECT:+; $HOSTILE_EXPECT}" \
    | tee -a "$TEST_TMP/figures.txt"
}
