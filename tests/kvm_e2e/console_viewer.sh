#!/usr/bin/env bash
# The debug console has one viewer at a time: a first `console` (following) sees the boot and the
# app's lines live; a second one meanwhile is refused with CONSOLE_BUSY (exit 6) and a message
# naming the fix; once the first has gone, a new viewer is served the console again.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image tick '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/tick.eif"
"$QT_VMM" enclave console --enclave-id "$ID" > "$TEST_TMP/viewer1.out" 2>&1 &
viewer=$!
for i in $(seq 100); do grep -q "VSOCK ready" "$TEST_TMP/viewer1.out" && break; sleep 0.1; done
grep -q "VSOCK ready" "$TEST_TMP/viewer1.out" || fail "the first viewer never saw the app's line"
rc=0; err=$("$QT_VMM" enclave console --enclave-id "$ID" --no-follow 2>&1 >/dev/null) || rc=$?
echo "second viewer: exit $rc: $err"
expect_eq "$rc" 6 "exit status of a second viewer"
expect_contains "$err" CONSOLE_BUSY
# Live: a connection to the app makes it print after the first viewer attached.
"$PEER" echo --socket "$VSOCK" --port 5000 --conns 1 --bytes 100 --timeout 60 >/dev/null
kill "$viewer"; wait "$viewer" 2>/dev/null || true
for i in $(seq 50); do
  rc=0; out=$("$QT_VMM" enclave console --enclave-id "$ID" --no-follow 2>&1) || rc=$?
  [ "$rc" -eq 0 ] && break
  sleep 0.1
done
expect_eq "$rc" 0 "a viewer after the first has gone"
expect_contains "$out" "VSOCK ready"
echo PASS
