#!/usr/bin/env bash
# SIGKILL of a running enclave's daemon (the VMM process) while the app runs and the parent holds
# a vsock connection: the connection ends, the guest is gone with its process (vCPU threads and
# all), every hugepage is back, query says TERMINATED / daemon-killed, the sockets are removed,
# and a new enclave starts on the freed CPUs.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image run '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
before=$(free_2m)
tcg_start "$TEST_TMP/run.eif"
wait_console "$ID" "VSOCK ready" 60
"$PEER" hold --socket "$VSOCK" --port 5000 --timeout 60 > "$TEST_TMP/hold.out" 2>&1 &
hold=$!
for i in $(seq 100); do grep -q "echo ok" "$TEST_TMP/hold.out" && break; sleep 0.1; done
grep -q "echo ok" "$TEST_TMP/hold.out" || fail "vsock_peer hold: $(cat "$TEST_TMP/hold.out")"
victim=$ID cpus=$(jq -c '.CPUIDs | sort' <<<"$START_JSON")
kill -9 "$DAEMON_PID"
expect_gone "$DAEMON_PID" "the killed daemon"
rc=0; wait "$hold" || rc=$?
cat "$TEST_TMP/hold.out"
expect_eq "$rc" 0 "the parent's connection must see the end (EOF or reset)"
for i in $(seq 50); do [ "$(free_2m)" -eq "$before" ] && break; sleep 0.1; done
expect_eq "$(free_2m)" "$before" "free 2 MiB pages after SIGKILL"
for i in $(seq 50); do [ "$(field "$victim" State)" = TERMINATED ] && break; sleep 0.1; done
expect_eq "$(field "$victim" State)" TERMINATED State
expect_eq "$(field "$victim" Reason)" daemon-killed Reason
[ ! -e "$QT_VMM_RUN_DIR/$victim.sock" ] || fail "control socket left behind"
tcg_start "$TEST_TMP/run.eif"
expect_eq "$(jq -c '.CPUIDs | sort' <<<"$START_JSON")" "$cpus" "the new enclave's CPUs"
"$QT_VMM" enclave stop --enclave-id "$victim" >/dev/null
echo PASS
