#!/usr/bin/env bash
# Finding 6 of issue #14: every thread of an enclave daemon, and QEMU under --accel tcg, is pinned
# where it belongs, checked from the outside in /proc/<pid>/task/*/{comm,status}:
#   1. KVM enclave, 1 vCPU: each "vcpuN" thread on exactly CPUIDs[N]; every other thread (the
#      daemon's main/control thread, "vsock", ...) on DaemonCPUs = the online CPUs we may use
#      minus the enclave's, i.e. never on the enclave's CPU.
#   2. A tcg enclave next to it: its daemon and every QEMU thread on DaemonCPUs, which leaves out
#      the running KVM enclave's CPU.
#   3. A vCPU whose CPU is outside the cpuset (a cgroup cpuset with only CPU 0): `start` fails
#      with CPU_PINNING naming the vCPU and the CPU, and no enclave is left running.
#   4. 2 vCPUs on this 2-CPU host (--allow-shared-cpus): the vCPUs are pinned exactly, but no CPU
#      is left for the daemon, which then uses both (DaemonCPUIsolation "shares-own-cpus"): on
#      such a host the other threads cannot avoid the enclave's CPUs, only reported.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup
cgroup=/sys/fs/cgroup/cpuset/qt-vmm-pinning-test-$$
trap 'vmm_cleanup; [ -d "$cgroup" ] && rmdir "$cgroup" 2>/dev/null || true' EXIT

checks=0
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
# expand "0-2,5" -> "0 1 2 5"
expand() { local part out=(); IFS=, read -ra parts <<<"$1"; for part in "${parts[@]}"; do
  [ -n "$part" ] || continue
  if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi; done; echo "${out[@]}"; }
json_cpus() { jq -r "[.$2[]] | map(tostring) | join(\" \")" <<<"$1"; } # JSON FIELD -> "0 1"
allowed_of() { expand "$(sed -n 's/^Cpus_allowed_list:\s*//p' "$1/status")"; } # TASKDIR
# show_threads PID: one line per thread, its name and CPUs
show_threads() { local t; for t in /proc/"$1"/task/*; do printf '    %-6s %-16s %s\n' "$(basename "$t")" "$(cat "$t/comm")" "$(allowed_of "$t")"; done; }
# the CPUs this shell may use that are online (what the launcher computes as "usable")
usable=$(comm -12 <(expand "$(cat /sys/devices/system/cpu/online)" | tr ' ' '\n' | sort) \
                  <(expand "$(taskset -pc $$ | sed 's/.*: //')" | tr ' ' '\n' | sort) | sort -n | tr '\n' ' ' | sed 's/ $//')
# minus SET... : the CPUs of "$usable" in none of the given sets
minus() { local cpu set keep out=(); for cpu in $usable; do keep=1
  for set in "$@"; do for c in $set; do [ "$c" = "$cpu" ] && keep=0; done; done
  [ $keep = 1 ] && out+=("$cpu"); done; echo "${out[@]:-}"; }

# check_daemon JSON EXPECTED_DAEMON_CPUS: vCPU threads exactly on CPUIDs, all others on the daemon's set
check_daemon() {
  local out=$1 want=$2 pid t name got v vcpus=0 others=0
  pid=$(jq -r .ProcessID <<<"$out")
  show_threads "$pid"
  for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm"); got=$(allowed_of "$t")
    if [[ $name =~ ^vcpu([0-9]+)$ ]]; then
      v=${BASH_REMATCH[1]}
      [ "$got" = "$(jq -r ".CPUIDs[$v]" <<<"$out")" ] || fail "thread $name runs on '$got', its CPUIDs entry is $(jq -r ".CPUIDs[$v]" <<<"$out")"
      vcpus=$((vcpus + 1))
    else
      [ "$got" = "$want" ] || fail "daemon thread '$name' ($(basename "$t")) runs on '$got', not on the daemon's CPUs '$want'"
      others=$((others + 1))
    fi
  done
  [ "$vcpus" = "$(jq -r ".CPUIDs | length" <<<"$out")" ] || fail "found $vcpus vCPU threads for CPUIDs $(json_cpus "$out" CPUIDs)"
  [ "$others" -ge 1 ] || fail "no daemon thread besides the vCPUs"
  [ "$(json_cpus "$out" DaemonCPUs)" = "$want" ] || fail "DaemonCPUs is '$(json_cpus "$out" DaemonCPUs)', expected '$want'"
}

probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
start() { "$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --mem 128 --allow-shared-cpus "$@"; }

echo "== 1. KVM enclave, 1 vCPU: the daemon's threads stay off its CPU (usable CPUs: $usable)"
a=$(start --cpus 1 --hugepage-size 2M --debug-mode)
echo "$a"
a_cpus=$(json_cpus "$a" CPUIDs)
want=$(minus "$a_cpus")
[ -n "$want" ] || skip "no CPU is left outside the enclave's"
check_daemon "$a" "$want"
grep -qx vsock /proc/"$(jq -r .ProcessID <<<"$a")"/task/*/comm || fail "no thread named vsock"
[ "$(jq -r .DaemonCPUIsolation <<<"$a")" = parent-cpus ] || fail "DaemonCPUIsolation should be parent-cpus"
ok "vCPU on CPU $a_cpus only; daemon threads on '$want'"

echo "== 2. a tcg enclave beside it: its daemon and QEMU on the parent's CPUs too"
if command -v qemu-system-x86_64 >/dev/null; then
  b=$(start --cpus 1 --accel tcg)
  echo "$b"
  check_daemon "$b" "$want"
  qemu=$(pgrep -P "$(jq -r .ProcessID <<<"$b")" -x qemu-system-x86 || pgrep -P "$(jq -r .ProcessID <<<"$b")" | head -n1)
  [ -n "$qemu" ] || fail "no QEMU child of the tcg daemon"
  echo "  QEMU $qemu:"; show_threads "$qemu"
  for t in /proc/"$qemu"/task/*; do
    [ "$(allowed_of "$t")" = "$want" ] || fail "QEMU thread '$(cat "$t/comm")' runs on '$(allowed_of "$t")', not '$want'"
  done
  ok "tcg daemon and all QEMU threads on '$want', off enclave $(jq -r .EnclaveID <<<"$a")'s CPU $a_cpus"
  "$QT_VMM" enclave stop --enclave-id "$(jq -r .EnclaveID <<<"$b")" >/dev/null
else
  echo "  (no qemu-system-x86_64: tcg part not run)"
fi
"$QT_VMM" enclave stop --enclave-id "$(jq -r .EnclaveID <<<"$a")" >/dev/null

echo "== 3. a vCPU CPU outside the cpuset: start fails naming it"
if [ -d /sys/fs/cgroup/cpuset ] && mkdir "$cgroup" 2>/dev/null; then
  first=${usable%% *}
  echo "$first" > "$cgroup/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems > "$cgroup/cpuset.mems"
  # Placement reads the online CPUs from sysfs and picks one the cgroup does not allow.
  set +e
  err=$(bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cgroup" \
        "$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --mem 128 --allow-shared-cpus --cpus 1 --hugepage-size 2M 2>&1)
  status=$?
  set -e
  echo "$err"
  [ "$status" -ne 0 ] || fail "start succeeded although its vCPU's CPU is outside the cpuset ($first only)"
  expect_contains "$err" "[CPU_PINNING]"
  expect_contains "$err" "cannot pin vCPU 0 to host CPU"
  [ -z "$(ls "$QT_VMM_RUN_DIR"/*.sock 2>/dev/null)" ] || fail "an enclave is left running"
  ok "start refused: CPU_PINNING"
else
  echo "  (no cgroup v1 cpuset hierarchy here: part 3 not run)"
fi

echo "== 4. 2 vCPUs on a 2-CPU host: nothing left for the daemon"
if [ "$(wc -w <<<"$usable")" = 2 ]; then
  c=$(start --cpus 2 --hugepage-size 2M)
  echo "$c"
  [ "$(jq -r .DaemonCPUIsolation <<<"$c")" = shares-own-cpus ] || fail "DaemonCPUIsolation should be shares-own-cpus"
  check_daemon "$c" "$usable"
  ok "vCPUs pinned exactly; the daemon shares them (reported as shares-own-cpus)"
  "$QT_VMM" enclave stop --enclave-id "$(jq -r .EnclaveID <<<"$c")" >/dev/null
fi
echo "$checks checks passed"
