#!/usr/bin/env bash
# Whole enclave under --accel tcg: a real OCI image (app_echo_env with ENTRYPOINT + CMD and Env)
# → make-img → enclave start. start returns only after the init's heartbeat (query right after
# it already says Heartbeat true), the app's output reaches the debug console with the image's
# argv and Env, and its exit status comes back in query's AppStatus; the enclave then ends by
# itself (guest-reset), its QEMU is gone and its console is still readable.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

tcg_image hello '{"Entrypoint":["app_echo_env","--exit=3"],"Cmd":["hello world",""],"Env":["PATH=/bin","GREETING=hi from the image"]}' app_echo_env
tcg_start "$TEST_TMP/hello.eif"
# The same process that start reported, and what start's own JSON says.
expect_eq "$(jq -r .Accel <<<"$START_JSON")" "$E2E_ACCEL" "start Accel"
expect_eq "$(jq -r .LaunchMode <<<"$START_JSON")" debug "start LaunchMode"
expect_eq "$(jq -r .Heartbeat <<<"$START_JSON")" true "start JSON Heartbeat"
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "query right after start: $q"
expect_eq "$(jq -r '.[0].Heartbeat' <<<"$q")" true "Heartbeat right after start"
expect_eq "$(jq -r '.[0].Accel' <<<"$q")" "$E2E_ACCEL" "Accel"
expect_eq "$(jq -r '.[0].VsockSocket' <<<"$q")" "$QT_VMM_RUN_DIR/$ID.vsock" "VsockSocket"
# The heartbeat came after the vCPUs started, and start returned after it.
hb=$(jq -r '.LaunchMonotonicNs.Heartbeat' <<<"$START_JSON")
vc=$(jq -r '.LaunchMonotonicNs.VcpusStarted' <<<"$START_JSON")
echo "LaunchMonotonicNs: $(jq -c .LaunchMonotonicNs <<<"$START_JSON"); heartbeat $(( (hb - vc) / 1000000 )) ms after the vCPUs"
[ "$hb" -gt "$vc" ] 2>/dev/null || fail "start's JSON: no heartbeat time after the vCPUs' start"

wait_terminated "$ID" 60
q=$("$QT_VMM" enclave query --enclave-id "$ID")
echo "query after the end: $q"
expect_eq "$(jq -r '.[0].State' <<<"$q")" TERMINATED "State"
expect_eq "$(jq -r '.[0].Reason' <<<"$q")" guest-reset "Reason"
expect_eq "$(jq -r '.[0].AppStatus.Kind' <<<"$q")" exited "AppStatus.Kind"
expect_eq "$(jq -r '.[0].AppStatus.ExitCode' <<<"$q")" 3 "AppStatus.ExitCode"
expect_gone "$QEMU_PID" "QEMU"
expect_gone "$DAEMON_PID" "the enclave daemon"

out=$(console "$ID")
echo "---- console ----"; echo "$out"; echo "-----------------"
expect_contains "$out" "ECHO argc=4" console
expect_contains "$out" "ECHO argv[0]=<app_echo_env>" console
expect_contains "$out" "ECHO argv[1]=<--exit=3>" console
expect_contains "$out" "ECHO argv[2]=<hello world>" console
expect_contains "$out" "ECHO argv[3]=<>" console
expect_contains "$out" "ECHO env <GREETING=hi from the image>" console
expect_contains "$out" "ECHO env <PATH=/bin>" console
expect_contains "$out" "ECHO uid=0 gid=0" console
expect_contains "$out" "ECHO hostname=enclave" console
expect_contains "$out" "ECHO done exit=3" console
expect_contains "$out" "app exited with status 3" console
# Under tcg the heartbeat and the status report reach the VMM: init must not complain.
expect_not_contains "$out" "heartbeat to the parent (vsock CID 3 port 9000) failed" console
expect_not_contains "$out" "status not delivered" console
expect_not_contains "$out" "Kernel panic" console

# stop clears the record; the enclave is then unknown.
"$QT_VMM" enclave stop --enclave-id "$ID" >/dev/null
[ "$("$QT_VMM" enclave query | jq length)" = 0 ] || fail "query still lists enclaves after stop"
echo PASS
