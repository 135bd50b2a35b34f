#!/usr/bin/env bash
# Start, query, console rules, stop — on a probe guest that halts forever (it ends only when
# stopped). Also: a production-mode console is refused, a stopped enclave leaves nothing behind.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
probe_eif "$TEST_TMP/spin.eif" "probe.mode=spin probe.tick_ms=50"
before=$(free_2m)

echo "== production mode: running, visible in query, console refused"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128 --cid 20)
id=$(jq -r .EnclaveID <<<"$out")
q=$("$QT_VMM" enclave query)
echo "$q"
[ "$(jq length <<<"$q")" = 1 ] || fail "query should list one enclave"
[ "$(jq -r '.[0].State' <<<"$q")" = RUNNING ] || fail "state not RUNNING"
[ "$(jq -r '.[0].LaunchMode' <<<"$q")" = production ] || fail "LaunchMode not production"
[ "$(jq -r '.[0].ProcessID' <<<"$q")" -gt 1 ] || fail "no ProcessID"
kill -0 "$(jq -r '.[0].ProcessID' <<<"$q")" || fail "daemon process not alive"
[ "$(jq -r '.[0].CPUIsolation' <<<"$q")" = isolated ] || fail "1 vCPU on CPU 1 should be isolated on this host"
[ "$(free_2m)" -eq $((before - 64)) ] || fail "128 MiB should hold 64 pages: $(free_2m) free, $before before"
set +e
err=$("$QT_VMM" enclave console --enclave-id "$id" 2>&1 >/dev/null); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "console of a production enclave must fail"
expect_contains "$err" "CONSOLE_NOT_DEBUG"
[ "$(wc -l <<<"$err")" = 1 ] || fail "error must be one line"
"$QT_VMM" --output table enclave query | tee "$TEST_TMP/table"
head -n1 "$TEST_TMP/table" | grep "EnclaveID" >/dev/null || fail "table output has no header"

echo "== stop"
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
[ "$("$QT_VMM" enclave query)" = "[]" ] || fail "query not empty after stop"
[ "$(free_2m)" = "$before" ] || fail "hugepages not returned after stop"
[ -z "$(ls "$QT_VMM_RUN_DIR" | grep -v -e '^host-quirks.json$')" ] || fail "run dir not clean: $(ls "$QT_VMM_RUN_DIR")"

echo "== debug mode: console replays and follows, one viewer at a time"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/spin.eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
sleep 1
timeout 3 "$QT_VMM" enclave console --enclave-id "$id" > "$TEST_TMP/console1" 2>/dev/null &
viewer=$!
sleep 1
set +e
err=$("$QT_VMM" enclave console --enclave-id "$id" 2>&1 >/dev/null); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "a second console viewer must be refused"
expect_contains "$err" "CONSOLE_BUSY"
wait "$viewer" || true   # timeout ends the first viewer
expect_contains "$(cat "$TEST_TMP/console1")" "PROBE start entry=64 mode=spin"
ticks1=$(grep -c "PROBE tick" "$TEST_TMP/console1")
[ "$ticks1" -ge 5 ] || fail "the viewer should have seen ticks, saw $ticks1"
# The viewer is gone: a new one may attach and gets the replay from the beginning.
"$QT_VMM" enclave console --enclave-id "$id" --no-follow > "$TEST_TMP/console2"
expect_contains "$(cat "$TEST_TMP/console2")" "PROBE start entry=64 mode=spin"
"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null

echo "== unknown enclave"
set +e
err=$("$QT_VMM" enclave stop --enclave-id 42 2>&1); status=$?
set -e
[ "$status" -eq 8 ] || fail "stop of an unknown enclave should exit 8, got $status"
expect_contains "$err" "ENCLAVE_NOT_FOUND"
[ "$("$QT_VMM" enclave query --enclave-id 42)" = "[]" ] || fail "query of an unknown id should be []"
