#!/usr/bin/env bash
# A 2-vCPU Linux enclave on the KVM path: the guest kernel brings up both CPUs (its
# /sys/devices/system/cpu/online and /proc/cpuinfo, printed by the running app), and while the
# app runs the daemon's two vCPU threads are each pinned to one of the CPUs query reports: whole,
# distinct CPUs, never CPU 0 (the parent's core), CPUIsolation "isolated". One vsock echo ends
# the app (exit 5).
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image smp '{"Entrypoint":["app_vsock"],"Cmd":["print:/sys/devices/system/cpu/online","print:/proc/cpuinfo","echo:5000","exit-after:1:5"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/smp.eif"
wait_console "$ID" "VSOCK ready" 60
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "query: $q"
expect_eq "$(jq -r '.[0].NumberOfCPUs' <<<"$q")" 2 NumberOfCPUs
expect_eq "$(jq -r '.[0].CPUIsolation' <<<"$q")" isolated CPUIsolation
cpus=$(jq -r '.[0].CPUIDs | map(tostring) | join(",")' <<<"$q")
[ "$(jq -r '.[0].CPUIDs | length' <<<"$q")" = 2 ] || fail "CPUIDs should name 2 CPUs: $cpus"
[ "$(jq -r '.[0].CPUIDs | unique | length' <<<"$q")" = 2 ] || fail "CPUIDs repeat a CPU: $cpus"
jq -e '.[0].CPUIDs | index(0) == null' <<<"$q" >/dev/null || fail "a vCPU is on CPU 0 (the parent's core): $cpus"

# The daemon's vCPU threads, by name, and the one CPU each may run on.
pinned=()
for task in /proc/"$DAEMON_PID"/task/*; do
  comm=$(cat "$task/comm" 2>/dev/null || true)
  case "$comm" in vcpu*)
    allowed=$(sed -nE 's/^Cpus_allowed_list:\s*//p' "$task/status")
    echo "thread $comm (tid ${task##*/}): Cpus_allowed_list $allowed"
    pinned+=("$allowed") ;;
  esac
done
expect_eq "${#pinned[@]}" 2 "vCPU threads in the daemon"
expect_eq "$(printf '%s\n' "${pinned[@]}" | sort -n | paste -sd,)" "$(tr ',' '\n' <<<"$cpus" | sort -n | paste -sd,)" \
  "the vCPU threads' CPUs (each pinned to exactly one) against query's CPUIDs"

out=$(console "$ID")
echo "$out" | grep -E "^VSOCK file /sys|smp: |Brought up" || true
expect_contains "$out" "VSOCK file /sys/devices/system/cpu/online: 0-1" "the guest's online CPUs"
expect_eq "$(grep -c '^VSOCK file /proc/cpuinfo: processor' <<<"$out")" 2 "processors in the guest's /proc/cpuinfo"
"$PEER" echo --socket "$VSOCK" --port 5000 --conns 1 --bytes 1000 --timeout 60 | grep "^PEER" | tail -n1
wait_terminated "$ID" 60
expect_eq "$(field "$ID" AppStatus.ExitCode)" 5 AppStatus.ExitCode
echo PASS
