#!/usr/bin/env bash
# --hugepage-size 1G on the KVM path: a 1 GiB enclave backed by one 1 GiB page from the pool,
# the app runs (it reports its /proc/meminfo total), query says HugepageSize 1G and MemoryMiB
# 1024, the page is held while it runs and back in the pool when it has ended.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

pool=/sys/kernel/mm/hugepages/hugepages-1048576kB
[ -d "$pool" ] || fail "this KVM host has no 1 GiB page pool"
original=$(cat "$pool/nr_hugepages")
restore_1g() { echo "$original" > "$pool/nr_hugepages" 2>/dev/null || true; }
free_1g() { echo $(( $(cat "$pool/free_hugepages") - $(cat "$pool/resv_hugepages") )); }
"$QT_VMM" allocator --mem 1024 --hugepage-size 1G >/dev/null || fail "cannot reserve one 1 GiB page"
before=$(free_1g)
[ "$before" -ge 1 ] || fail "no free 1 GiB page after allocator"

tcg_image big '{"Entrypoint":["app_echo_env","--file=/proc/meminfo","--exit=4"],"Env":["PATH=/bin"]}' app_echo_env
E2E_MEM=1024 tcg_start "$TEST_TMP/big.eif" --hugepage-size 1G
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "query: $(jq -c '.[0] | {HugepageSize, MemoryMiB, NumaNode, State}' <<<"$q")"
expect_eq "$(jq -r '.[0].HugepageSize' <<<"$q")" 1G HugepageSize
expect_eq "$(jq -r '.[0].MemoryMiB' <<<"$q")" 1024 MemoryMiB
wait_terminated "$ID" 120
out=$(console "$ID")
total_kb=$(sed -nE 's/^ECHO file \/proc\/meminfo: MemTotal: +([0-9]+) kB.*$/\1/p' <<<"$out")
echo "guest MemTotal: ${total_kb:-?} kB"
[ -n "$total_kb" ] && [ "$total_kb" -gt $((900 * 1024)) ] || fail "the guest should see about 1 GiB (MemTotal ${total_kb:-missing})"
expect_eq "$(field "$ID" AppStatus.ExitCode)" 4 AppStatus.ExitCode
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null
for i in $(seq 50); do [ "$(free_1g)" -eq "$before" ] && break; sleep 0.1; done
expect_eq "$(free_1g)" "$before" "free 1 GiB pages after the enclave"
restore_1g
echo PASS
