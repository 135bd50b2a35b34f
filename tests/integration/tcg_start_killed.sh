#!/usr/bin/env bash
# The parent process dying: `enclave start` is SIGKILLed while it waits for the heartbeat. The
# enclave belongs to its daemon, not to that process: it boots on to its heartbeat, query lists
# it RUNNING with its console, the app answers over vsock, and stop ends it with nothing left.
# (The daemon used to die of SIGPIPE writing its start report to the dead process's pipe.)
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

tcg_image run '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
"$QT_VMM" enclave start --accel "$E2E_ACCEL" "${E2E_START_OPTS[@]}" --eif "$TEST_TMP/run.eif" --cpus "$E2E_CPUS" --mem 256 --debug-mode \
  > "$TEST_TMP/start.out" 2>&1 &
starter=$!
id=""
for i in $(seq 300); do
  for s in "$QT_VMM_RUN_DIR"/*.sock; do [ -e "$s" ] && id=$(basename "$s" .sock); done
  [ -n "$id" ] && break
  sleep 0.1
done
[ -n "$id" ] || fail "no enclave appeared while start ran: $(cat "$TEST_TMP/start.out")"
kill -9 "$starter"
wait "$starter" 2>/dev/null || true
echo "start killed (enclave $id); it had printed: $(cat "$TEST_TMP/start.out")"
[ ! -s "$TEST_TMP/start.out" ] || fail "start returned before the test could kill it (nothing tested)"
for i in $(seq 240); do
  q=$("$QT_VMM" enclave query --enclave-id "$id")
  [ "$(jq -r '.[0].Heartbeat' <<<"$q")" = true ] && break
  [ "$(jq -r '.[0].State' <<<"$q")" = TERMINATED ] && fail "the enclave ended with the start process: $(jq -c '.[0] | {Reason, Detail}' <<<"$q")"
  sleep 0.5
done
expect_eq "$(field "$id" Heartbeat)" true "Heartbeat after the start process died"
expect_eq "$(field "$id" State)" RUNNING State
ID=$id
wait_console "$id" "VSOCK ready" 60
"$PEER" echo --socket "$(field "$id" VsockSocket)" --port 5000 --conns 2 --bytes 4096 --timeout 60 | grep "^PEER" | tail -n1
daemon=$(field "$id" ProcessID)
qemu=$(field "$id" QemuPID)
expect_eq "$("$QT_VMM" enclave stop --enclave-id "$id")" "stop $id success" "stop's output"
expect_gone "$daemon" "enclave daemon"
[ "$qemu" = null ] || expect_gone "$qemu" QEMU
[ ! -e "$QT_VMM_RUN_DIR/$id.sock" ] || fail "control socket left behind"
echo PASS
