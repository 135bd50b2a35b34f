#!/usr/bin/env bash
# 1 GiB pages (the QingTian default for whole-GiB sizes) and 2 vCPUs.
# The probe guest reports the RAM it was given; for 2 vCPUs it checks the VMM side: two vCPU
# threads, each pinned to the host CPU query reports (the MP table listing every vCPU is unit-tested; the
# probe itself runs on the bootstrap CPU only; a Linux guest with 2 vCPUs is slow to boot on this
# host's nested KVM, so SMP Linux is left to hosts with hardware virtualization).
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

pool1g=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
[ -e "$pool1g" ] || skip "this kernel has no 1 GiB hugepage pool"
original_1g=$(cat "$pool1g")
trap 'vmm_cleanup; echo "$original_1g" > "$pool1g"' EXIT
if ! "$QT_VMM" allocator --mem 1024 --hugepage-size 1G >/dev/null 2>"$TEST_TMP/alloc.err"; then
  cat "$TEST_TMP/alloc.err"
  skip "the kernel could not grant a 1 GiB page now (memory too fragmented): $(cat "$TEST_TMP/alloc.err")"
fi

echo "== 1 GiB of 1 GiB pages (the default page size for whole GiB)"
probe_eif "$TEST_TMP/report.eif" "probe.mode=report probe.mem_samples=16"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/report.eif" --cpus 1 --allow-shared-cpus --mem 1024 --debug-mode)
echo "$out"
[ "$(jq -r .HugepageSize <<<"$out")" = 1G ] || fail "1 GiB pages should be the default for 1024 MiB"
id=$(jq -r .EnclaveID <<<"$out")
wait_terminated "$id" 120
console=$("$QT_VMM" enclave console --enclave-id "$id")
expect_contains "$console" "PROBE e820=0x100000:0x3ff00000:1"
expect_contains "$console" "PROBE mem_top=0x40000000"
expect_contains "$console" "PROBE done"
expect_contains "$console" "PROBE mem_test=ok"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
d1g=/sys/kernel/mm/hugepages/hugepages-1048576kB
[ $(( $(cat $d1g/free_hugepages) - $(cat $d1g/resv_hugepages) )) -ge 1 ] || fail "the 1 GiB page was not returned"

echo "== 2 vCPUs (needs the dev-host opt-out on a 2-CPU host)"
probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 2 --mem 128 --allow-shared-cpus)
echo "$out"
id=$(jq -r .EnclaveID <<<"$out")
pid=$(jq -r .ProcessID <<<"$out")
[ "$(jq -r .NumberOfCPUs <<<"$out")" = 2 ] || fail "NumberOfCPUs should be 2"
[ "$(jq -r .CPUIsolation <<<"$out")" != isolated ] || fail "2 vCPUs on a 2-CPU host cannot be isolated"
for v in 0 1; do
  task=$(grep -lx "vcpu$v" /proc/"$pid"/task/*/comm | head -n1)
  [ -n "$task" ] || fail "no thread vcpu$v in the daemon"
  tid=$(basename "$(dirname "$task")")
  want=$(jq -r ".CPUIDs[$v]" <<<"$out")
  got=$(taskset -pc "$tid" | sed 's/.*: //')
  [ "$got" = "$want" ] || fail "vcpu$v is pinned to $got, query says $want"
done
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
