#!/usr/bin/env bash
# Egress end to end, whole enclave under --accel tcg: an unmodified app connects over TCP to
# 127.0.0.1 inside the enclave and reaches an allow-listed remote on the parent's loopback.
#   app_vsock tcpdial:8443 → guest-init's forwarder (image label qt-vmm.forward "8443:8000,8444:8001")
#   → vsock CID 3 port 8000 → <VsockSocket>_8000 → `qt-vmm vsock proxy 8000 127.0.0.1 R`
#   → vsock_peer listening on TCP 127.0.0.1:R, which checks every byte and the XXH3-64 and
#   answers with its own XXH3-64, which the app checks (OK on the console). 16 such connections
#   are opened at once (the remote serves them one after the other, so the rest wait with their
#   bytes held back by flow control all along the way).
# The second forward (8444 → vsock 8001) has no proxy on the parent: the forwarder's vsock
# connect is refused, it logs that on the console and closes the app's TCP connection, so the
# app counts one failed connection and exits 1.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup

bytes=$((1 << 20)) conns=16
dials=$(for _ in $(seq $conns); do printf '"tcpdial:8443:%s",' "$bytes"; done)
tcg_image egress "{\"Entrypoint\":[\"app_vsock\"],\"Cmd\":[$dials\"tcpdial:8444:4096\",\"exit-after:$((conns + 1)):0\"],\"Env\":[\"PATH=/bin\"],\"Labels\":{\"qt-vmm.forward\":\"8443:8000,8444:8001\"}}" app_vsock

# The remote: TCP on the parent's loopback (any free port), seed 8443 as the app's stream.
"$PEER" listen --tcp 127.0.0.1:0 --port 8443 --count "$conns" --timeout 90 >"$TEST_TMP/remote.out" 2>&1 &
remote_pid=$!
for _ in $(seq 50); do grep -q "PEER listening tcp=" "$TEST_TMP/remote.out" && break; sleep 0.1; done
remote=$(sed -n 's/PEER listening tcp=//p' "$TEST_TMP/remote.out")
[ -n "$remote" ] || fail "vsock_peer did not listen: $(cat "$TEST_TMP/remote.out")"
printf 'allowlist:\n- {address: 127.0.0.1, port: %s}\n' "${remote##*:}" >"$TEST_TMP/allow.yaml"

# The proxy starts before the enclave (as a Nitro parent's vsock-proxy service would): the first
# enclave in this private run directory is 0, so its VsockSocket will be run/0.vsock.
"$QT_VMM" vsock proxy 8000 127.0.0.1 "${remote##*:}" --uds-path "$QT_VMM_RUN_DIR/0.vsock" --config "$TEST_TMP/allow.yaml" \
  >"$TEST_TMP/proxy.json" 2>"$TEST_TMP/proxy.log" &
proxy_pid=$!
for _ in $(seq 100); do [ -S "$QT_VMM_RUN_DIR/0.vsock_8000" ] && break; sleep 0.1; done
[ -S "$QT_VMM_RUN_DIR/0.vsock_8000" ] || fail "the proxy did not listen: $(cat "$TEST_TMP/proxy.log")"

tcg_start "$TEST_TMP/egress.eif"
expect_eq "$VSOCK" "$QT_VMM_RUN_DIR/0.vsock" VsockSocket
wait_terminated "$ID" 120
out=$(console "$ID")
echo "---- console ----"; echo "$out" | grep -E "VSOCK|init:|app " ; echo "-----------------"

rc=0; wait "$remote_pid" || rc=$?
peer=$(cat "$TEST_TMP/remote.out")
echo "$peer"
expect_eq "$rc" 0 "remote (vsock_peer listen --tcp) exit status"
expect_eq "$(grep -c "PEER listen port=8443 conn=[0-9]* bytes=$bytes .*content=ok.* result=OK" <<<"$peer")" "$conns" "connections the remote checked"
total_secs=$(grep -o "PEER listen port=8443 conn=[0-9]* bytes=$bytes [^ ]* [^ ]* [^ ]* secs=[0-9.]*" <<<"$peer" | sed 's/.*secs=//' | paste -sd+ | bc)
echo "THROUGHPUT enclave app -> forwarder -> vsock -> proxy -> TCP remote, $conns x 1 MiB: $(echo "scale=1; $conns / $total_secs" | bc) MiB/s"

expect_contains "$out" "init: forwarding 127.0.0.1:8443 to the parent's vsock port 8000"
expect_contains "$out" "init: forwarding 127.0.0.1:8444 to the parent's vsock port 8001"
expect_eq "$(grep -c "VSOCK dial 8443 conn=1 bytes=$bytes .* OK" <<<"$out")" "$conns" "the app's OK lines for port 8443"
refused=$(grep "init: forwarder: 127.0.0.1:8444 -> vsock 8001: connection #" <<<"$out" | head -n1)
expect_contains "$refused" ": connect to CID 3 port 8001 failed: ECONNRESET" "the forwarder's console line for port 8444"
expect_contains "$out" "VSOCK exit ended=$((conns + 1)) failed=1 status=1"
expect_eq "$(field "$ID" AppStatus.Kind)" exited AppStatus.Kind
expect_eq "$(field "$ID" AppStatus.ExitCode)" 1 AppStatus.ExitCode

# The enclave ended: the proxy noticed, removed its listener and logged what it did.
for _ in $(seq 50); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
rc=0; wait "$proxy_pid" || rc=$?
log=$(cat "$TEST_TMP/proxy.log")
echo "$log"
expect_eq "$rc" 0 "proxy exit status"
expect_contains "$log" "the enclave has ended: $conns connections accepted, $conns completed, 0 refused, 0 failed"
[ ! -e "$QT_VMM_RUN_DIR/0.vsock_8000" ] || fail "proxy listener left behind"
expect_gone "$QEMU_PID" QEMU
echo PASS
