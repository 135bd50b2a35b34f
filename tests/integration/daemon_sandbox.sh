#!/usr/bin/env bash
# The enclave daemon after setup (README "Access model", vmm/enclave/sandbox_*.h): for a running
# KVM probe enclave and a running --accel tcg enclave, every thread of the daemon runs as
# qt-vmm-daemon (not uid 0) with no capabilities, Seccomp 2 and NoNewPrivs 1, chrooted into an empty directory, in its own
# network namespace; vCPU threads, the vsock thread and the main thread stack their own,
# narrower list (two filters; the vsock echo, the stops and the records then run through them); every thread but the main one runs
# on a stack the daemon sized, with a guard page, and all share one malloc arena; its parent is the root monitor; QEMU runs as qt-vmm-daemon under its own
# seccomp sandbox. What needs root still works through the monitor: the record and the saved
# console after a SIGTERM stop (which used to kill the daemon: only its main thread blocked
# SIGTERM), a vsock echo, enclave->parent connects (tcg: to root's listener yes, to one owned by
# a user outside qt-vmm no), and after kill -9 of the daemon the monitor writes the daemon-killed
# record and removes the sockets. The monitor runs under its own seccomp filter.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
source "$TOP/tests/vmm_lib.sh"
tcg_setup
vmm_setup
trap 'st=$?; vmm_cleanup; (exit $st); tcg_cleanup' EXIT
daemon_uid=$(id -u qt-vmm-daemon) || fail "user qt-vmm-daemon missing; create it with: sudo scripts/install-deps.sh"

# status_field PID|PID/task/TID FIELD: the value(s) of one line of /proc/.../status
status_field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }

# check_thread_stack PID TID WHAT [must]: a thread the daemon started runs on a stack it sized
# (base::SizedThread: at most 1 MiB, also under ASan) with a guard page below, not on glibc's
# 8 MiB default; the stack is the mapping that holds the stack pointer of the thread's syscall.
# A thread that stays in user or guest mode (a spinning vCPU) has none to read: without "must"
# it is reported and skipped (the halted vCPU below is checked).
check_thread_stack() {
  local sp i
  for i in $(seq 20); do
    sp=$(awk 'NF >= 9 { print $(NF - 1) }' "/proc/$1/task/$2/syscall")
    [ -n "$sp" ] && break
    sleep 0.05
  done
  if [ -z "$sp" ]; then
    [ "${4:-}" = must ] && fail "$3: no stack pointer in /proc/$1/task/$2/syscall ($(cat "/proc/$1/task/$2/syscall"))"
    echo "$3 stack: not checked (the thread is $(cat "/proc/$1/task/$2/syscall"))"
    return
  fi
  local out; out=$(/usr/bin/python3 - "/proc/$1/maps" "$sp" <<'PY'
import sys
sp = int(sys.argv[2], 16)
prev = None
for line in open(sys.argv[1]):
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    if lo <= sp < hi:
        guard = prev is not None and prev[1] == lo and prev[2] == "---p"
        print((hi - lo) >> 10, "guarded" if guard else "unguarded")
        break
    prev = (lo, hi, f[1])
PY
)
  local kib=${out%% *}
  echo "$3 stack: $kib KiB, ${out#* }"
  [ -n "$kib" ] && [ "$kib" -le 1024 ] || fail "$3: stack of ${kib:-?} KiB, expected a sized one (at most 1024 KiB)"
  expect_eq "${out#* }" guarded "$3 stack guard page"
}

# check_sandboxed PID WHAT NSM_THREADS: every user thread of PID dropped everything; the
# security module's thread ("nsm" under KVM, its own stacked list; "vhost-nsm" under tcg, the
# union list) is there NSM_THREADS times.
check_sandboxed() {
  local pid=$1 what=$2 task flags n=0 device_threads=0 nsm_threads=0
  for task in /proc/"$pid"/task/*; do
    # KVM's kernel workers (PF_USER_WORKER, PF_KTHREAD) live in the thread group but never run user code.
    flags=$(sed 's/.*) //' "$task/stat" | awk '{print $7}')
    (( (flags & 0x4000) || (flags & 0x200000) )) && continue
    n=$((n + 1))
    local name; name=$(status_field "$pid/task/${task##*/}" Name)
    echo "$what thread $name: Uid $(status_field "$pid/task/${task##*/}" Uid) CapEff $(status_field "$pid/task/${task##*/}" CapEff) Seccomp $(status_field "$pid/task/${task##*/}" Seccomp) NoNewPrivs $(status_field "$pid/task/${task##*/}" NoNewPrivs)"
    expect_eq "$(status_field "$pid/task/${task##*/}" Uid)" "$daemon_uid $daemon_uid $daemon_uid $daemon_uid" "$what thread $name uids"
    expect_eq "$(status_field "$pid/task/${task##*/}" CapEff)" 0000000000000000 "$what thread $name CapEff"
    expect_eq "$(status_field "$pid/task/${task##*/}" CapPrm)" 0000000000000000 "$what thread $name CapPrm"
    expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp)" 2 "$what thread $name Seccomp (filter mode)"
    expect_eq "$(status_field "$pid/task/${task##*/}" NoNewPrivs)" 1 "$what thread $name NoNewPrivs"
    # vCPU threads, the vsock device's thread and the main thread narrow the daemon's filter
    # with their own (stacked): two filters, the others (tcg's qemu-supervisor) one.
    if [[ "$name" == vcpu* ]]; then
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 2 "$what thread $name Seccomp_filters (daemon + vCPU list)"
    elif [ "${task##*/}" = "$pid" ]; then # the main thread: the Control list
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 2 "$what main thread Seccomp_filters (daemon + control list)"
    elif [[ "$name" == vsock || "$name" == vhost-vsock ]]; then
      device_threads=$((device_threads + 1))
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 2 "$what thread $name Seccomp_filters (daemon + vsock list)"
    elif [ "$name" = nsm ]; then
      nsm_threads=$((nsm_threads + 1))
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 2 "$what thread $name Seccomp_filters (daemon + NSM list)"
    elif [ "$name" = vhost-nsm ]; then
      nsm_threads=$((nsm_threads + 1))
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 1 "$what thread $name Seccomp_filters (the union list only)"
    else
      expect_eq "$(status_field "$pid/task/${task##*/}" Seccomp_filters)" 1 "$what thread $name Seccomp_filters"
    fi
    [ "$(status_field "$pid/task/${task##*/}" Groups)" = "" ] || fail "$what thread $name keeps groups: $(status_field "$pid/task/${task##*/}" Groups)"
    [ "${task##*/}" = "$pid" ] || check_thread_stack "$pid" "${task##*/}" "$what thread $name"
  done
  # One malloc arena for all threads (daemon_memory.h): no 64 MiB reservation per thread.
  local arenas; arenas=$(/usr/bin/python3 -c 'import sys; print(sum(1 for l in open(sys.argv[1]) if len(l.split()) == 5 and l.split()[1] == "---p" and (lambda lo, hi: int(hi, 16) - int(lo, 16))(*l.split()[0].split("-")) >= 32 << 20))' "/proc/$pid/maps")
  if [ "${SAN:-0}" = 1 ]; then
    # AddressSanitizer replaces glibc's malloc (no arenas to count) and reserves its own large
    # PROT_NONE regions, which this count would take for arenas.
    echo "$what: malloc arenas not counted: SAN=1 build (ASan's allocator, $arenas large PROT_NONE reservations)"
  else
    expect_eq "$arenas" 0 "$what: per-thread malloc arenas (PROT_NONE reservations of 32 MiB or more)"
  fi
  [ "$n" -ge 3 ] || fail "$what: expected the main, vsock and vCPU threads at least, saw $n"
  expect_eq "$device_threads" 1 "$what: vsock device threads"
  expect_eq "$nsm_threads" "$3" "$what: NSM device threads"
  expect_eq "$(readlink "/proc/$pid/root")" /run/qt-vmm-empty "$what root directory"
  [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] || fail "$what shares the host's network namespace"
  local monitor; monitor=$(awk '{print $4}' "/proc/$pid/stat")
  expect_eq "$(cat "/proc/$monitor/comm")" qt-vmm-monitor "$what parent"
  expect_eq "$(status_field "$monitor" Uid | cut -d" " -f1)" 0 "$what monitor uid"
}

# inherited_code_kib PID: resident KiB of PID's read-only file mappings that hold no written page
# (the binary's code and constants, shared libraries). The daemon is forked from `enclave start`
# and inherits every such page the launcher touched (CLI, EIF checks, OpenSSL); once ready it drops
# them (daemon_memory.h), so what is resident is what it ran since.
inherited_code_kib() {
  /usr/bin/python3 - "/proc/$1/smaps" <<'PY'
import re, sys
total, cur = 0, None
def close():
    global total
    if cur and cur["ro_file"] and cur["anon"] == 0:
        total += cur["rss"]
for line in open(sys.argv[1]):
    m = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\S+)\s*(.*)$", line)
    if m:
        close()
        cur = {"ro_file": m.group(1) in ("r-xp", "r--p") and m.group(2) != "0" and m.group(3).startswith("/"), "rss": 0, "anon": 0}
    elif cur and line.startswith("Rss:"):
        cur["rss"] = int(line.split()[1])
    elif cur and line.startswith("Anonymous:"):
        cur["anon"] = int(line.split()[1])
close()
print(total)
PY
}

echo "== KVM probe enclave (debug mode): sandboxed; SIGTERM stop keeps record and console"
probe_eif "$TEST_TMP/spin.eif" "probe.mode=spin probe.tick_ms=50"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/spin.eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out"); pid=$(jq -r .ProcessID <<<"$out")
check_sandboxed "$pid" kvm 1
sleep 0.5
kill -TERM "$pid"
wait_terminated "$id" 20
expect_eq "$(enclave_field "$id" Reason)" stopped "record after SIGTERM"
expect_contains "$(enclave_field "$id" Detail)" "signal 15"
expect_contains "$("$QT_VMM" enclave console --enclave-id "$id" --no-follow)" "PROBE tick" "saved console"
[ ! -e "$QT_VMM_RUN_DIR/$id.sock" ] && [ ! -e "$QT_VMM_RUN_DIR/$id.vsock" ] || fail "sockets left after the stop"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null # clears the record

echo "== KVM probe enclave: kill -9 of the daemon, the monitor keeps the record"
probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128)
id=$(jq -r .EnclaveID <<<"$out"); pid=$(jq -r .ProcessID <<<"$out")
# The launcher's code is not resident in the daemon: 4-5 MiB before it was dropped (the binary's
# code, libc, libstdc++ pages `enclave start` ran), a few hundred KiB of code the daemon runs after.
sleep 0.3
code_kib=$(inherited_code_kib "$pid")
echo "kvm daemon: ${code_kib} KiB of read-only file pages resident"
[ "$code_kib" -le 1024 ] || fail "the daemon keeps ${code_kib} KiB of the launcher's read-only file pages resident (expected at most 1024 KiB: daemon_memory.h drops them once ready)"
for task in /proc/"$pid"/task/*; do # the halted vCPU waits in KVM_RUN: its stack pointer is readable
  [[ "$(cat "$task/comm")" == vcpu* ]] && check_thread_stack "$pid" "${task##*/}" "kvm thread $(cat "$task/comm") (halted)" must
done
kill -9 "$pid"
for i in $(seq 50); do [ -e "$QT_VMM_RUN_DIR/$id.json" ] && [ ! -e "$QT_VMM_RUN_DIR/$id.sock" ] && break; sleep 0.1; done
expect_eq "$(jq -r .Reason "$QT_VMM_RUN_DIR/$id.json")" daemon-killed "record after kill -9"
expect_contains "$(jq -r .Detail "$QT_VMM_RUN_DIR/$id.json")" "signal 9"
[ ! -e "$QT_VMM_RUN_DIR/$id.sock" ] && [ ! -e "$QT_VMM_RUN_DIR/$id.vsock" ] || fail "sockets left after kill -9"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null

echo "== --accel tcg enclave: sandboxed, QEMU as qt-vmm-daemon under its -sandbox, vsock echo works"
# Enclave -> parent connections go through the monitor, which accepts a listener owned by root
# (port 7000) and refuses one owned by nobody, who is not in qt-vmm (port 7001).
tcg_image run '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000","dial:7000:4096:2000","dial:7001:4096:2000"],"Env":["PATH=/bin"]}' app_vsock
"$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7000 --count 1 --timeout 60 >"$TEST_TMP/listen7000.out" 2>&1 &
"$PEER" listen --socket "$QT_VMM_RUN_DIR/0.vsock" --port 7001 --count 1 --timeout 60 >"$TEST_TMP/listen7001.out" 2>&1 &
for i in $(seq 50); do [ -S "$QT_VMM_RUN_DIR/0.vsock_7000" ] && [ -S "$QT_VMM_RUN_DIR/0.vsock_7001" ] && break; sleep 0.1; done
chown 65534 "$QT_VMM_RUN_DIR/0.vsock_7001"
tcg_start "$TEST_TMP/run.eif"
expect_eq "$ID" 0 "EnclaveID of the tcg enclave"
wait_console "$ID" "VSOCK ready" 30
# Under tcg the NSM is there only where QEMU can create vhost-user-device (Debian's cannot).
tcg_nsm=1
"$QT_VMM" enclave query --enclave-id "$ID" | jq -e '.[0].Attestation.Device | startswith("unavailable")' >/dev/null && tcg_nsm=0
check_sandboxed "$DAEMON_PID" tcg "$tcg_nsm"
monitor=$(awk '{print $4}' "/proc/$DAEMON_PID/stat")
expect_eq "$(status_field "$monitor" Seccomp)" 2 "the monitor's own filter"
wait_console "$ID" "VSOCK dial 7001" 30
wait_console "$ID" "VSOCK dial 7000 conn=1" 30
expect_contains "$(grep "VSOCK dial 7000 conn=1" <<<"$(console "$ID")")" " OK" "dial to root's listener"
expect_contains "$(console "$ID")" "VSOCK dial 7001 connect to CID 3 failed: ECONNRESET" "dial to nobody's listener"
expect_contains "$(cat "$QT_VMM_RUN_DIR/0.log" 2>/dev/null)" "neither root nor a member of group qt-vmm" "monitor's log"
expect_eq "$(status_field "$QEMU_PID" Uid)" "$daemon_uid $daemon_uid $daemon_uid $daemon_uid" "QEMU uids (-runas)"
expect_eq "$(status_field "$QEMU_PID" Seccomp)" 2 "QEMU's own -sandbox"
out=$("$PEER" echo --socket "$VSOCK" --port 5000 --conns 4 --bytes 65536)
echo "$out"
expect_contains "$out" "result=OK" "vsock echo through the sandboxed daemon"
"$QT_VMM" enclave stop --enclave-id "$ID" | grep -x "stop $ID success" >/dev/null || fail "stop of the tcg enclave"
expect_gone "$QEMU_PID" QEMU
expect_gone "$DAEMON_PID" "enclave daemon"

echo "== --accel tcg: kill -9 of the daemon ends its QEMU too (-runas cleared QEMU's parent-death signal)"
tcg_start "$TEST_TMP/run.eif"
wait_console "$ID" "VSOCK ready" 30
kill -9 "$DAEMON_PID"
for i in $(seq 100); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
expect_gone "$QEMU_PID" "QEMU of a killed daemon"
expect_eq "$(field "$ID" Reason)" daemon-killed "record after kill -9 (tcg)"
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null

echo "== --accel tcg: stop right after a start that did not wait for the heartbeat"
# QEMU must have switched to qt-vmm-daemon before the daemon does, or the daemon's SIGTERM to it
# fails (EPERM) and the stop waits for a fallback.
E2E_HEARTBEAT_TIMEOUT=0 tcg_start "$TEST_TMP/run.eif"
"$QT_VMM" enclave stop --enclave-id "$ID" | grep -x "stop $ID success" >/dev/null || fail "stop right after start"
expect_gone "$QEMU_PID" "QEMU right after its stop"
echo PASS
