#!/usr/bin/env bash
# `stop` while the enclave is still booting (started with --heartbeat-timeout 0, stopped at
# once, long before its kernel reaches init): stop succeeds, the daemon and both sockets are
# gone, every hugepage is back, the record is cleared; the same CPUs and CID then start again.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image boot '{"Entrypoint":["app_sleep"],"Env":["PATH=/bin"]}' app_sleep
before=$(free_2m)
E2E_HEARTBEAT_TIMEOUT=0 tcg_start "$TEST_TMP/boot.eif"
expect_eq "$(jq -r .Heartbeat <<<"$START_JSON")" false "Heartbeat when start returned (still booting)"
t0=$(date +%s.%N)
out=$("$QT_VMM" enclave stop --enclave-id "$ID") || fail "stop during boot failed"
echo "$out; stop took $(echo "$(date +%s.%N) - $t0" | bc) s"
expect_eq "$out" "stop $ID success" "stop's output"
expect_gone "$DAEMON_PID" "enclave daemon"
[ ! -e "$QT_VMM_RUN_DIR/$ID.sock" ] || fail "control socket left behind"
[ ! -e "$QT_VMM_RUN_DIR/$ID.vsock" ] || fail "vsock socket left behind"
for i in $(seq 50); do [ "$(free_2m)" -eq "$before" ] && break; sleep 0.1; done
expect_eq "$(free_2m)" "$before" "free 2 MiB pages after stop"
expect_eq "$("$QT_VMM" enclave query | jq length)" 0 "enclaves listed after stop"
cid=$(jq .EnclaveCID <<<"$START_JSON")
tcg_start "$TEST_TMP/boot.eif" --cid "$cid"
expect_eq "$(jq -r .Heartbeat <<<"$START_JSON")" true "Heartbeat of the next enclave"
echo PASS
