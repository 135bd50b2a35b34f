#!/usr/bin/env bash
# --accel tcg: QEMU's own failures are reported as what they are. QEMU SIGKILLed under a running
# enclave ends it with Reason emulator-error and "QEMU was killed by signal 9" in Detail (it
# used to be reported as vcpu-error, as if the guest had failed); the daemon exits and the
# record stays for query.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
[ "$E2E_ACCEL" = tcg ] || skip "QEMU's failures exist under --accel tcg only"
tcg_setup

tcg_image run '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/run.eif"
kill -9 "$QEMU_PID"
wait_terminated "$ID" 30
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "after QEMU was killed: $(jq -c '.[0] | {State, Reason, Detail}' <<<"$q")"
expect_eq "$(jq -r '.[0].Reason' <<<"$q")" emulator-error Reason
expect_contains "$(jq -r '.[0].Detail' <<<"$q")" "QEMU was killed by signal 9" Detail
expect_gone "$DAEMON_PID" "enclave daemon"
echo PASS
