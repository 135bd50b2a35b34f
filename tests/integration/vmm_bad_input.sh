#!/usr/bin/env bash
# Every bad start is a one-line error with a stable code and exit status, checked before
# anything is allocated, and leaves nothing behind (no socket, no record, no hugepage in use).
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

probe_eif "$TEST_TMP/ok.eif" "probe.mode=hlt"
cp "$TEST_TMP/ok.eif" "$TEST_TMP/corrupt.eif"
printf '\x55' | dd of="$TEST_TMP/corrupt.eif" bs=1 seek=2000 conv=notrunc status=none
head -c 5000 "$TEST_TMP/ok.eif" > "$TEST_TMP/truncated.eif"
before=$(free_2m)

expect_error() {  # expect_error STATUS CODE args...
  local want_status=$1 code=$2; shift 2
  set +e
  local err status
  err=$("$QT_VMM" enclave start "$@" 2>&1 >/dev/null); status=$?
  set -e
  echo "$* -> $status: $err"
  [ "$status" -eq "$want_status" ] || fail "expected exit $want_status for: $*"
  expect_contains "$err" "error [$code"
  [ "$(wc -l <<<"$err")" = 1 ] || fail "error must be one line: $err"
  [ -z "$(ls "$QT_VMM_RUN_DIR" | grep -v -e '^host-quirks.json$' -e '^\.lock$')" ] || fail "left behind: $(ls "$QT_VMM_RUN_DIR")"
  [ "$(free_2m)" = "$before" ] || fail "hugepages in use after a failed start"
}

expect_error 3 EIF_BAD_CRC --eif "$TEST_TMP/corrupt.eif" --cpus 1 --mem 128
expect_error 3 EIF_ --eif "$TEST_TMP/truncated.eif" --cpus 1 --mem 128
expect_error 8 FILE_OPEN --eif "$TEST_TMP/missing.eif" --cpus 1 --mem 128
expect_error 3 MEMORY_TOO_SMALL --eif "$TEST_TMP/ok.eif" --cpus 1 --mem 64
expect_error 3 MEMORY_TOO_LARGE_FOR_2M --eif "$TEST_TMP/ok.eif" --cpus 1 --mem 1024 --hugepage-size 2M
expect_error 3 CID_OUT_OF_RANGE --eif "$TEST_TMP/ok.eif" --cpus 1 --mem 128 --cid 3
expect_error 3 VCPUS_INVALID --eif "$TEST_TMP/ok.eif" --cpus 63 --mem 128 --allow-shared-cpus
expect_error 2 BAD_HEARTBEAT_TIMEOUT --eif "$TEST_TMP/ok.eif" --cpus 1 --mem 128 --heartbeat-timeout -1
# QingTian's vCPU rules: an even count (VCPUS_ODD, or VCPUS_NOT_WHOLE_CORES on an SMT host), at
# most the node's CPUs minus 2 (a 2-CPU host has room for none); the opt-out still needs the CPUs.
expect_error 3 VCPUS_ --eif "$TEST_TMP/ok.eif" --cpus 3 --mem 128
if [ "$(nproc)" -le 3 ]; then
  expect_error 3 VCPUS_OVER_NODE_LIMIT --eif "$TEST_TMP/ok.eif" --cpus 2 --mem 128
fi
if [ "$(nproc)" -lt 62 ]; then
  expect_error 6 CPUS_UNAVAILABLE --eif "$TEST_TMP/ok.eif" --cpus 62 --mem 128 --allow-shared-cpus
fi
# Nothing reserves 1 GiB pages for this test: a 2 GiB enclave of them must be refused up front.
free_1g=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free_1g" -lt 2 ]; then
  expect_error 6 HUGEPAGES_SHORT --eif "$TEST_TMP/ok.eif" --cpus 1 --allow-shared-cpus --mem 2048 --hugepage-size 1G
fi
