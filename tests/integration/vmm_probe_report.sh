#!/usr/bin/env bash
# A probe guest under KVM checks what qt-vmm gave it (boot protocol, e820, command line, initrd
# bytes, CPUID, RAM) and powers off through the keyboard controller; the record says why it
# ended and the saved console shows the report. Also: host-check's parent-minimum line.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

head -c 300000 /dev/urandom > "$TEST_TMP/rd0"
head -c 12345 /dev/urandom > "$TEST_TMP/rd1"
probe_eif "$TEST_TMP/p.eif" "probe.mode=report probe.tag=hello-qt-vmm" "$TEST_TMP/rd0" "$TEST_TMP/rd1"
crc=$(cat "$TEST_TMP/rd0" "$TEST_TMP/rd1" | gzip -1 | tail -c 8 | od -An -tx4 -N4 | tr -d ' ')
size=$(( $(stat -c %s "$TEST_TMP/rd0") + $(stat -c %s "$TEST_TMP/rd1") ))

# host-check reports QingTian's parent minimum (2 CPUs, 512 MiB) as a check of its own.
parent=$("$QT_VMM" host-check --query "[?Check=='parent-minimum']")
echo "$parent"
[ "$(jq length <<<"$parent")" = 1 ] || fail "host-check: one parent-minimum check expected"
expect_contains "$(jq -r '.[0].Detail' <<<"$parent")" "MiB (MemTotal) are outside the hugepage pools"
if [ "$(nproc)" -le 3 ]; then  # a 2-CPU build host: no enclave fits the rules without the opt-out
  [ "$(jq -r '.[0].Verdict' <<<"$parent")" = warn ] || fail "parent-minimum should warn on a $(nproc)-CPU host"
  expect_contains "$(jq -r '.[0].Detail' <<<"$parent")" "enclaves need --allow-shared-cpus"
fi

before=$(free_2m)
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/p.eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode --hugepage-size 2M --cid 17)
echo "$out"
id=$(jq -r .EnclaveID <<<"$out")
[ "$(jq -r .EnclaveCID <<<"$out")" = 17 ] || fail "CID not 17"
[ "$(jq -r .MemoryMiB <<<"$out")" = 128 ] || fail "MemoryMiB not 128"
[ "$(jq -r .LaunchMode <<<"$out")" = debug ] || fail "LaunchMode not debug"
[ "$(jq -r '.CPUIDs | length' <<<"$out")" = 1 ] || fail "one CPU expected"
[ "$(jq -r .Measurements.PCR0 <<<"$out")" = "$("$QT_VMM" enclave describe-eif --eif "$TEST_TMP/p.eif" | jq -r .Measurements.PCR0)" ] \
  || fail "PCR0 differs from describe-eif"

wait_terminated "$id" 60
record=$(enclave_json "$id")
echo "$record"
[ "$(jq -r '.[0].Reason' <<<"$record")" = guest-reset ] || fail "expected the guest to end by keyboard-controller reset"

console=$("$QT_VMM" enclave console --enclave-id "$id")
echo "$console"
expect_contains "$console" "PROBE start entry=64 mode=report"
expect_contains "$console" "PROBE cmdline=probe.mode=report probe.tag=hello-qt-vmm"
expect_contains "$console" "initrd_size=$size"
expect_contains "$console" "initrd_crc32=$crc"
expect_contains "$console" "PROBE done"
# The hypervisor bit is set and KVM's signature is visible to the guest.
expect_contains "$console" "PROBE cpuid_hv_sig=KVMKVMKVM"
# e820: low RAM, the reserved BIOS area, and RAM from 1 MiB to the end of the 128 MiB.
expect_contains "$console" "e820=0x0:0x9fc00:1"
expect_contains "$console" "e820=0x100000:0x7f00000:1"

# Memory went back to the pool when the enclave ended.
[ "$(free_2m)" = "$before" ] || fail "hugepages not returned: $(free_2m) free, $before before"
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
[ "$("$QT_VMM" enclave query)" = "[]" ] || fail "query not empty after stop"
