#!/bin/bash
# tests/nested/arm64-enclave.sh — runs inside the arm64 nested L1 (tests/nested/l1.sh --arch arm64)
# for tests/integration/arm64_l1_enclave.sh: the arm64 qt-vmm runs, on L1's KVM, the aarch64 EIFs
# the host built, and records what it saw in /run/l1/logs/ (l1.sh keeps that directory in its log
# directory); the host checks it, since L1 has no jq. Prints one "STEP name rc=N seconds=S" line
# a step. Uses only bash, busybox and the cross-built programs.
#   tests/nested/arm64-enclave.sh QT_VMM VSOCK_PEER EIF_DIR
#     EIF_DIR/hello.eif  app_echo_env: console output, then exit 3
#     EIF_DIR/both.eif   app_vsock: dials the parent's port 7000, serves echo on 5000
source "$(dirname "$0")/../lib.sh" # console_shows
set +e                                # each step's status is recorded, not fatal
qt=$1 peer=$2 eifs=$3
QT_VMM=$qt
out=/run/l1/logs
mkdir -p "$out"

step_t0=""
step_begin() { step_t0=$EPOCHREALTIME; }
step_end() { # NAME RC
  local secs
  secs=$(awk -v a="$step_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "STEP $1 rc=$2 seconds=$secs" | tee -a "$out/steps.txt"
}
# json_field FILE KEY: a top-level string or number of qt-vmm's indented JSON.
json_field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1" | head -n 1; }
state() { "$qt" enclave query --enclave-id "$1" --query '[0].State' --output tsv 2>/dev/null; }
wait_state() { # ID STATE SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    [ "$(state "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}

echo "arm64-enclave: $(uname -m) $(uname -r), $(nproc) CPUs, $("$qt" --version 2>&1)"

# 1. host-check: this KVM runs guest user mode (the embedded arm64 probe guest).
step_begin
rc=0; "$qt" host-check > "$out/host-check.json" 2> "$out/host-check.err" || rc=$?
step_end host-check "$rc"

# 2. The app's console output, exit status and the guest's own end.
export QT_VMM_RUN_DIR=/run/qt-vmm-arm64-1
mkdir -p "$QT_VMM_RUN_DIR"
step_begin
rc=0; "$qt" enclave start --eif "$eifs/hello.eif" --cpus 2 --mem 256 --debug-mode --heartbeat-timeout 900 \
  > "$out/start-hello.json" 2> "$out/start-hello.err" || rc=$?
step_end start-hello "$rc"
id=$(json_field "$out/start-hello.json" EnclaveID)
if [ "$rc" -eq 0 ] && [ -n "$id" ]; then
  step_begin
  rc=0; wait_state "$id" TERMINATED 600 || rc=1
  step_end hello-ended "$rc"
  "$qt" enclave query --enclave-id "$id" > "$out/query-hello.json" 2>&1
  "$qt" enclave console --enclave-id "$id" --no-follow > "$out/console-hello.txt" 2>&1
fi

# 3. vsock both ways: the parent listens on 7000 (the enclave dials it) and echoes through 5000.
export QT_VMM_RUN_DIR=/run/qt-vmm-arm64-2
mkdir -p "$QT_VMM_RUN_DIR"
"$peer" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7000 --count 1 --timeout 900 > "$out/listen7000.txt" 2>&1 &
listener=$!
for ((i = 0; i < 100; i++)); do [ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] && break; sleep 0.1; done
step_begin
rc=0; "$qt" enclave start --eif "$eifs/both.eif" --cpus 2 --mem 256 --debug-mode --heartbeat-timeout 900 \
  > "$out/start-both.json" 2> "$out/start-both.err" || rc=$?
step_end start-both "$rc"
id=$(json_field "$out/start-both.json" EnclaveID)
vsock=$(json_field "$out/start-both.json" VsockSocket)
if [ "$rc" -eq 0 ] && [ -n "$id" ]; then
  step_begin
  rc=0; console_shows "$id" "VSOCK ready" 600 || rc=1
  step_end both-ready "$rc"
  step_begin
  rc=0; "$peer" echo --socket "$vsock" --port 5000 --conns 2 --bytes 65536 --timeout 600 > "$out/echo5000.txt" 2>&1 || rc=$?
  step_end echo-5000 "$rc"
  step_begin
  rc=0; wait "$listener" || rc=$?
  step_end listen-7000 "$rc"
  "$qt" enclave console --enclave-id "$id" --no-follow > "$out/console-both.txt" 2>&1
  rc=0; "$qt" enclave stop --enclave-id "$id" > "$out/stop-both.json" 2>&1 || rc=$?
  echo "STEP stop-both rc=$rc seconds=0" | tee -a "$out/steps.txt"
fi
kill "$listener" 2>/dev/null
# The daemons' logs (their run directories live in L1's memory) for the host to show.
for f in /run/qt-vmm-arm64-*/*.log; do [ -f "$f" ] && cp "$f" "$out/daemon-$(basename "$(dirname "$f")")-$(basename "$f")"; done
echo "arm64-enclave: done"
