#!/usr/bin/env bash
# Production mode (no --debug-mode) on the KVM path: LaunchMode production, the console is
# refused (CONSOLE_NOT_DEBUG, exit 9) while the enclave runs, and the app is reached only over
# vsock: 1 MiB echoed through `qt-vmm vsock connect`, byte for byte; its exit status still
# reaches query.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image prod '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000","exit-after:1:6"],"Env":["PATH=/bin"]}' app_vsock
START_JSON=$("$QT_VMM" enclave start --eif "$TEST_TMP/prod.eif" --cpus 2 --mem 256 --heartbeat-timeout 120) || fail "start failed"
ID=$(jq -r .EnclaveID <<<"$START_JSON")
expect_eq "$(jq -r .LaunchMode <<<"$START_JSON")" production LaunchMode
rc=0; err=$("$QT_VMM" enclave console --enclave-id "$ID" --no-follow 2>&1 >/dev/null) || rc=$?
echo "console: exit $rc: $err"
expect_eq "$rc" 9 "console of a production enclave"
expect_contains "$err" CONSOLE_NOT_DEBUG
head -c 1048576 /dev/urandom > "$TEST_TMP/in.bin"
ok=0
for i in $(seq 100); do # the app may still be starting: until its port answers
  rc=0; timeout 120 "$QT_VMM" vsock connect --enclave-id "$ID" --port 5000 < "$TEST_TMP/in.bin" > "$TEST_TMP/out.bin" 2> "$TEST_TMP/connect.err" || rc=$?
  [ "$rc" -eq 0 ] && [ -s "$TEST_TMP/out.bin" ] && { ok=1; break; }
  sleep 0.2
done
[ "$ok" -eq 1 ] || fail "vsock connect: $(cat "$TEST_TMP/connect.err")"
cmp "$TEST_TMP/in.bin" "$TEST_TMP/out.bin" || fail "the echo differs from what was sent"
echo "1 MiB echoed intact through vsock connect"
wait_terminated "$ID" 60
expect_eq "$(field "$ID" AppStatus.ExitCode)" 6 AppStatus.ExitCode
echo PASS
