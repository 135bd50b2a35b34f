#!/usr/bin/env bash
# Two starts at the same moment never share an EnclaveID or CID; a third enclave is refused
# (at most two per parent); SIGKILL of a daemon leaves no hugepage in use and query says what
# happened.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
before=$(free_2m)

# This host has 2 CPUs: two enclaves need the dev-host opt-out to share cores.
"$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus > "$TEST_TMP/a.json" &
a=$!
"$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus > "$TEST_TMP/b.json" &
b=$!
wait "$a" || fail "first concurrent start failed"
wait "$b" || fail "second concurrent start failed"
cat "$TEST_TMP/a.json" "$TEST_TMP/b.json"
[ "$(jq .EnclaveID "$TEST_TMP/a.json")" != "$(jq .EnclaveID "$TEST_TMP/b.json")" ] || fail "same EnclaveID"
[ "$(jq .EnclaveCID "$TEST_TMP/a.json")" != "$(jq .EnclaveCID "$TEST_TMP/b.json")" ] || fail "same CID"
[ "$("$QT_VMM" enclave query | jq length)" = 2 ] || fail "query should list two enclaves"
[ "$(free_2m)" -eq $((before - 128)) ] || fail "two enclaves of 128 MiB should hold 128 pages"

set +e
err=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus 2>&1 >/dev/null); status=$?
set -e
echo "$err"
[ "$status" -eq 6 ] || fail "third enclave should be refused with exit 6"
expect_contains "$err" "ENCLAVE_LIMIT"

victim=$(jq -r .EnclaveID "$TEST_TMP/a.json")
kill -9 "$(jq -r .ProcessID "$TEST_TMP/a.json")"
for i in $(seq 50); do [ "$(free_2m)" -eq $((before - 64)) ] && break; sleep 0.1; done
[ "$(free_2m)" -eq $((before - 64)) ] || fail "SIGKILL left hugepages in use: $(free_2m) free"
# The kernel frees a dying process's memory before it closes its files, so the socket may
# still accept a connection for a moment after the pages are back: poll.
for i in $(seq 50); do
  q=$("$QT_VMM" enclave query --enclave-id "$victim")
  [ "$(jq -r '.[0].State' <<<"$q")" = TERMINATED ] && break
  sleep 0.1
done
echo "$q"
[ "$(jq -r '.[0].State' <<<"$q")" = TERMINATED ] || fail "killed enclave should show TERMINATED"
[ "$(jq -r '.[0].Reason' <<<"$q")" = daemon-killed ] || fail "reason should be daemon-killed"
[ ! -e "$QT_VMM_RUN_DIR/$victim.sock" ] || fail "stale socket not removed"
# The killed one no longer counts: a new enclave may start again.
"$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --mem 128 --allow-shared-cpus > "$TEST_TMP/c.json"
[ "$(jq .EnclaveID "$TEST_TMP/c.json")" != "$victim" ] || fail "the killed enclave's record still holds its id"
for s in "$QT_VMM_RUN_DIR"/*.sock; do "$QT_VMM" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null; done
"$QT_VMM" enclave stop --enclave-id "$victim" | grep -x "stop $victim success" >/dev/null
[ "$("$QT_VMM" enclave query)" = "[]" ] || fail "query not empty at the end"
[ "$(free_2m)" = "$before" ] || fail "hugepages not all returned"
