#!/usr/bin/env bash
# `qt-vmm vsock proxy` on the parent, without an enclave: the test plays the VMM by connecting
# straight to <VsockSocket>_<port> (what the VMM does when an enclave dials CID 3), and the
# remote is a TCP echo server on loopback. Only 127.0.0.1 and ::1 are used.
#   - allow-listed 127.0.0.1: 1,000 connections open at once, every byte echoed back through the
#     proxy and checked, half-closes passed on; the proxy's summary counts them;
#   - allow-listed ::1 (when the host has IPv6 loopback);
#   - a remote not on the list is refused (PROXY_NOT_ALLOWED, exit 3) with the reason;
#   - bad YAML, an unknown key, a port out of range, a missing file: one clear line each, exit 3;
#   - --max-connections: the connection over the limit is closed and logged; --idle-timeout: a
#     connection where nothing moves is closed and logged;
#   - DNS at connect time (as root, in a private mount namespace whose /etc/hosts the test edits):
#     a name listed through its address is let through, then refused and logged once it moves;
#   - the proxy removes its listener and ends when the VsockSocket goes away (the enclave ended).
source "$TOP/tests/lib.sh"
PEER="$BUILD/bin/vsock_peer"
[ -x "$PEER" ] || fail "missing $PEER; run make"
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RUN="$TEST_TMP/run"
mkdir -p "$RUN"
: > "$RUN/0.vsock"   # stands in for an enclave's VsockSocket: the proxy ends when it goes away
pids=()
cleanup() { for p in "${pids[@]}"; do kill_tree "$p"; done; }
trap cleanup EXIT

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (10 s at most).
wait_for() {
  for _ in $(seq 100); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1" >&2; fail "no '$2' in $1"
}

# 1. 1,000 concurrent connections to an allow-listed 127.0.0.1 port.
"$PEER" tcp-echo --tcp 127.0.0.1:0 --conns 1000 --timeout 120 >"$TEST_TMP/echo4.out" 2>&1 &
pids+=($!); echo4_pid=$!
wait_for "$TEST_TMP/echo4.out" "listening port="
port4=$(sed -n 's/.*listening port=\([0-9]*\).*/\1/p' "$TEST_TMP/echo4.out")
cat >"$TEST_TMP/allow.yaml" <<YAML
allowlist:
- {address: 127.0.0.1, port: $port4}
YAML
"$QT_VMM" vsock proxy 8000 127.0.0.1 "$port4" --uds-path "$RUN/0.vsock" --config "$TEST_TMP/allow.yaml" \
  >"$TEST_TMP/proxy4.json" 2>"$TEST_TMP/proxy4.log" &
pids+=($!); proxy4_pid=$!
for _ in $(seq 100); do [ -S "$RUN/0.vsock_8000" ] && break; sleep 0.1; done
[ -S "$RUN/0.vsock_8000" ] || { cat "$TEST_TMP/proxy4.log"; fail "the proxy did not listen on $RUN/0.vsock_8000"; }
expect_eq "$(jq -r .Remote "$TEST_TMP/proxy4.json")" "127.0.0.1:$port4" Remote
expect_eq "$(jq -r .Listen "$TEST_TMP/proxy4.json")" "$RUN/0.vsock_8000" Listen
t0=$(date +%s.%N)
out=$("$PEER" echo --unix "$RUN/0.vsock_8000" --conns 1000 --bytes 65536 --window 1000 --timeout 120) || { echo "$out"; cat "$TEST_TMP/proxy4.log"; fail "1,000 connections through the proxy"; }
echo "$out"
echo "TIME 1000 connections through the proxy (open, echo up to 64 KiB each, close): $(printf '%.2f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
expect_contains "$out" "PEER echo established=1000 concurrently"
expect_contains "$out" "verified=1000 eof=1000"
expect_contains "$out" "result=OK"
rc=0; wait "$echo4_pid" || rc=$?
cat "$TEST_TMP/echo4.out"
expect_eq "$rc" 0 "tcp-echo exit status"
expect_contains "$(cat "$TEST_TMP/echo4.out")" "PEER tcp-echo conns=1000 peak=1000"

# 2. IPv6: ::1 on the list (in block style).
"$PEER" tcp-echo --tcp '[::1]:0' --conns 10 --timeout 60 >"$TEST_TMP/echo6.out" 2>&1 &
pids+=($!); echo6_pid=$!
for _ in $(seq 50); do grep -q "listening port=" "$TEST_TMP/echo6.out" && break; kill -0 "$echo6_pid" 2>/dev/null || break; sleep 0.1; done
if grep -q "listening port=" "$TEST_TMP/echo6.out"; then
  port6=$(sed -n 's/.*listening port=\([0-9]*\).*/\1/p' "$TEST_TMP/echo6.out")
  printf 'allowlist:\n- address: "::1"\n  port: %s\n' "$port6" >"$TEST_TMP/allow6.yaml"
  "$QT_VMM" vsock proxy 8001 ::1 "$port6" --uds-path "$RUN/0.vsock" --config "$TEST_TMP/allow6.yaml" -6 \
    >"$TEST_TMP/proxy6.json" 2>"$TEST_TMP/proxy6.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$RUN/0.vsock_8001" ] && break; sleep 0.1; done
  out=$("$PEER" echo --unix "$RUN/0.vsock_8001" --conns 10 --bytes 100000 --timeout 60) || { echo "$out"; cat "$TEST_TMP/proxy6.log"; fail "IPv6 through the proxy"; }
  expect_contains "$out" "verified=10 eof=10"
  expect_eq "$(jq -r .Remote "$TEST_TMP/proxy6.json")" "[::1]:$port6" "IPv6 Remote"
  wait "$echo6_pid"
  echo "IPv6: 10 connections to [::1]:$port6 OK"
else
  echo "NOTE: no IPv6 loopback on this host ($(cat "$TEST_TMP/echo6.out")); IPv6 part not run"
fi

# 3. Not on the list: refused, with the reason and the fix.
rc=0; err=$("$QT_VMM" vsock proxy 8002 127.0.0.1 9 --uds-path "$RUN/0.vsock" --config "$TEST_TMP/allow.yaml" 2>&1) || rc=$?
echo "$err"
expect_eq "$rc" 3 "exit status for a remote not on the list"
expect_contains "$err" "error [PROXY_NOT_ALLOWED]: 127.0.0.1:9 is not on the allowlist $TEST_TMP/allow.yaml"
expect_contains "$err" "add '- {address: 127.0.0.1, port: 9}'"
# A name with no entry for its port is refused too (localhost resolves from /etc/hosts: no DNS).
rc=0; err=$("$QT_VMM" vsock proxy 8002 localhost 443 --uds-path "$RUN/0.vsock" --config "$TEST_TMP/allow.yaml" 2>&1) || rc=$?
expect_eq "$rc" 3 "exit status for localhost:443"
expect_contains "$err" "localhost:443 is not on the allowlist"
[ ! -e "$RUN/0.vsock_8002" ] || fail "a refused proxy left a listener"

# An enclave that does not run: nothing to listen for.
rc=0; err=$(QT_VMM_RUN_DIR="$RUN" "$QT_VMM" vsock proxy 8002 127.0.0.1 "$port4" --enclave-id 7 --config "$TEST_TMP/allow.yaml" 2>&1) || rc=$?
expect_eq "$rc" 8 "exit status for an enclave that does not run"
expect_contains "$err" "error [ENCLAVE_NOT_FOUND]: no running enclave with id 7"

# 4. Bad allowlists: one line each, naming the file, the line and the fix.
bad() { # NAME CONTENT EXPECTED
  printf '%b' "$2" >"$TEST_TMP/$1.yaml"
  local rc=0 err
  err=$("$QT_VMM" vsock proxy 8003 127.0.0.1 "$port4" --uds-path "$RUN/0.vsock" --config "$TEST_TMP/$1.yaml" 2>&1) || rc=$?
  echo "$1: $err"
  expect_eq "$rc" 3 "exit status for $1"
  expect_eq "$(wc -l <<<"$err")" 1 "lines of the error for $1"
  expect_contains "$err" "error [PROXY_ALLOWLIST]: $TEST_TMP/$1.yaml:"
  expect_contains "$err" "$3"
}
bad syntax 'allowlist:\n- {address: 127.0.0.1, port: 1\n' "not valid YAML"
bad typo 'allowlist:\n- {address: 127.0.0.1, port: 1}\n- {adress: a, port: 2}\n' "3: allowlist entry 2 has an unknown key 'adress'"
bad range 'allowlist:\n- {address: 127.0.0.1, port: 70000}\n' "port must be a number from 1 to 65535, not '70000'"
bad nolist 'allow:\n- {address: 127.0.0.1, port: 1}\n' "no top-level 'allowlist:' key"
rc=0; err=$("$QT_VMM" vsock proxy 8003 127.0.0.1 1 --uds-path "$RUN/0.vsock" --config "$TEST_TMP/none.yaml" 2>&1) || rc=$?
expect_eq "$rc" 8 "exit status for a missing allowlist (FILE_OPEN, as for any missing file)"
expect_contains "$err" "error [FILE_OPEN]: cannot read the allowlist"
expect_contains "$err" "--config FILE"

# 5. Limits. Three clients that send nothing (python3: hold a Unix connection open and report
# how it ended) against --max-connections 2 --idle-timeout 5: one is closed at once, the other
# two after 5 idle seconds; each is logged with its reason.
"$PEER" tcp-echo --tcp 127.0.0.1:0 --conns 2 --timeout 60 >"$TEST_TMP/echo-lim.out" 2>&1 &
pids+=($!)
wait_for "$TEST_TMP/echo-lim.out" "listening port="
portl=$(sed -n 's/.*listening port=\([0-9]*\).*/\1/p' "$TEST_TMP/echo-lim.out")
printf 'allowlist:\n- {address: 127.0.0.1, port: %s}\n' "$portl" >"$TEST_TMP/allow-lim.yaml"
: > "$RUN/2.vsock"
"$QT_VMM" vsock proxy 8020 127.0.0.1 "$portl" --uds-path "$RUN/2.vsock" --config "$TEST_TMP/allow-lim.yaml" \
  --max-connections 2 --idle-timeout 5 >/dev/null 2>"$TEST_TMP/proxy-lim.log" &
pids+=($!); proxyl_pid=$!
for _ in $(seq 100); do [ -S "$RUN/2.vsock_8020" ] && break; sleep 0.1; done
hold='import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(30)
try:
    got = s.recv(1)
    print("EOF" if got == b"" else "DATA", flush=True)
except OSError as e:
    print("RESET" if not isinstance(e, socket.timeout) else "TIMEOUT", flush=True)'
# All three at once: whichever comes third is refused, the other two are closed when idle.
python3 -c "$hold" "$RUN/2.vsock_8020" >"$TEST_TMP/hold1.out" & h1=$!
python3 -c "$hold" "$RUN/2.vsock_8020" >"$TEST_TMP/hold2.out" & h2=$!
python3 -c "$hold" "$RUN/2.vsock_8020" >"$TEST_TMP/hold3.out" & h3=$!
wait "$h1" "$h2" "$h3"
expect_eq "$(cat "$TEST_TMP/hold1.out" "$TEST_TMP/hold2.out" "$TEST_TMP/hold3.out" | tr '\n' ' ')" "EOF EOF EOF " "how the held connections ended"
rm "$RUN/2.vsock"
wait "$proxyl_pid"
log=$(cat "$TEST_TMP/proxy-lim.log")
echo "$log"
expect_eq "$(grep -c "port 8020: connection #[123] refused: 2 connections are open, the limit (raise it with --max-connections)" <<<"$log")" 1 "refusal lines"
expect_eq "$(grep -c "port 8020: connection #[123] to 127.0.0.1:$portl: closed: idle for [0-9]* s (the idle timeout)" <<<"$log")" 2 "idle lines"
expect_contains "$log" "3 connections accepted, 0 completed, 1 refused, 0 failed, 2 closed idle, peak 2 open"

# 6. DNS is resolved at every connection (--dns-ttl 0): egress.test is allowed because it
# resolves to the listed 127.0.0.1; once it resolves elsewhere the next connection is refused and
# logged. /etc/hosts is replaced in a private mount namespace only (root needed), no DNS server.
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  "$PEER" tcp-echo --tcp 127.0.0.1:0 --conns 1 --timeout 60 >"$TEST_TMP/echo-dns.out" 2>&1 &
  pids+=($!)
  wait_for "$TEST_TMP/echo-dns.out" "listening port="
  portd=$(sed -n 's/.*listening port=\([0-9]*\).*/\1/p' "$TEST_TMP/echo-dns.out")
  printf 'allowlist:\n- {address: 127.0.0.1, port: %s}\n' "$portd" >"$TEST_TMP/allow-dns.yaml"
  printf '127.0.0.1 egress.test\n' >"$TEST_TMP/hosts"
  : > "$RUN/1.vsock"
  unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$TEST_TMP/hosts" \
    "$QT_VMM" vsock proxy 8010 egress.test "$portd" --uds-path "$RUN/1.vsock" --config "$TEST_TMP/allow-dns.yaml" --dns-ttl 0 \
    >/dev/null 2>"$TEST_TMP/proxy-dns.log" &
  pids+=($!); proxyd_pid=$!
  for _ in $(seq 100); do [ -S "$RUN/1.vsock_8010" ] && break; sleep 0.1; done
  [ -S "$RUN/1.vsock_8010" ] || { cat "$TEST_TMP/proxy-dns.log"; fail "the DNS proxy did not listen"; }
  out=$("$PEER" echo --unix "$RUN/1.vsock_8010" --conns 1 --bytes 1000 --timeout 30) || { echo "$out"; cat "$TEST_TMP/proxy-dns.log"; fail "egress.test -> 127.0.0.1"; }
  expect_contains "$out" "verified=1 eof=1"
  printf '127.0.0.2 egress.test\n' >"$TEST_TMP/hosts"   # same file (inode): the bind mount sees it
  rc=0; out=$("$PEER" echo --unix "$RUN/1.vsock_8010" --conns 1 --bytes 1000 --timeout 30 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "a connection to a moved name got through: $out"
  rm "$RUN/1.vsock"
  wait "$proxyd_pid"
  log=$(cat "$TEST_TMP/proxy-dns.log")
  echo "$log"
  expect_contains "$log" "port 8010: connection #2: refused: egress.test:$portd is not on the allowlist $TEST_TMP/allow-dns.yaml: no entry has that address and port $portd, and no entry for port $portd resolves to 127.0.0.2"
  expect_contains "$log" "2 connections accepted, 1 completed, 1 refused, 0 failed"
else
  echo "NOTE: not root or no mount namespaces: the DNS-at-connect-time part is not run"
fi

# 7. The enclave ends (its VsockSocket goes): the proxy removes its listener, logs its summary, exits 0.
rm "$RUN/0.vsock"
rc=0
for _ in $(seq 100); do kill -0 "$proxy4_pid" 2>/dev/null || break; sleep 0.1; done
wait "$proxy4_pid" || rc=$?
cat "$TEST_TMP/proxy4.log"
expect_eq "$rc" 0 "proxy exit status"
[ ! -e "$RUN/0.vsock_8000" ] || fail "listener left behind"
log=$(cat "$TEST_TMP/proxy4.log")
expect_contains "$log" "the enclave has ended: 1000 connections accepted, 1000 completed, 0 refused, 0 failed, 0 closed idle, peak 1000 open"
echo PASS
