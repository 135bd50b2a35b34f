#!/usr/bin/env bash
# QEMU's vhost-user-vsock-device served by `qt-vmm vsock vhost-user`: the project's guest kernel
# boots under `-M microvm -accel tcg` with guest RAM in a shared memfd, and a static /init
# (tests/guests/vhost_user_guest.c) talks to the parent at CID 3 through our backend:
#   - the heartbeat on port 9000 (0xB7 out, 0xB7 back; the command logs it),
#   - enclave -> parent: CID 3 port 5000 reaches the parent's listener on <uds>_5000,
#   - parent -> enclave: the parent sends "CONNECT 5001" on <uds> and talks to the guest,
# then powers off (reboot=k + i8042 ends QEMU). Twice: microvm's default legacy virtio-mmio and
# with VERSION_1 (force-legacy=false). The command must exit by itself when QEMU disconnects.
# A third run adds the NSM device where QEMU lets -device create vhost-user-device (upstream QEMU,
# Debian's 10.0.2 included, does not: it is not user-creatable; that part then says SKIP): QEMU's
# `vhost-user-device,virtio-id=33` served by VhostUserNsmBackend (tests/tools/nsm_vhost_user_stub,
# which answers every request with a fixed CBOR error): the guest kernel's nsm driver binds (the
# ring starts: DRIVER_OK) and a raw /dev/nsm ioctl from the guest gets that answer back.
source "$TOP/tests/lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs it)"
qemu-system-x86_64 -device help 2>/dev/null | grep '"vhost-user-vsock-device"' >/dev/null \
  || skip "this QEMU has no vhost-user-vsock-device"
command -v python3 >/dev/null || skip "python3 is needed for the parent side"
need_kernel
guest="$BUILD/guest/vhost_user_guest"
[ -x "$guest" ] || fail "missing $guest; run make BUILD=$BUILD"
[ -x "$QT_VMM" ] || fail "missing $QT_VMM; run make BUILD=$BUILD"

export -f qemu_tcg
root="$TEST_TMP/root"
mkdir -p "$root/dev"
cp "$guest" "$root/init"
make_initramfs "$root" "$TEST_TMP/initrd.cpio"

# The parent: serves <uds>_5000 (answers "pong: <line>"), then connects to <uds> with
# CONNECT 5001 and exchanges a line with the guest. Writes what it saw to $1.
cat >"$TEST_TMP/parent.py" <<'PY'
import os, socket, sys, time
out, uds = sys.argv[1], sys.argv[2]
log = open(out, "w", buffering=1)
def line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").rstrip("\n")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(uds + "_5000")
srv.listen(1)
srv.settimeout(90)
conn, _ = srv.accept()
conn.settimeout(20)
got = line(conn)
log.write("PARENT got <%s>\n" % got)
conn.sendall(("pong: %s\n" % got).encode())
conn.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(uds)
s.sendall(b"CONNECT 5001\n")
ok = line(s)
log.write("PARENT connect answer <%s>\n" % ok)
s.sendall(b"hello enclave\n")
log.write("PARENT enclave said <%s>\n" % line(s))
s.close()
log.write("PARENT done\n")
PY

run_once() { # NAME FEATURES [extra qemu args...]
  local name=$1 features=$2; shift 2
  local sock="$TEST_TMP/$name.vhost" uds="$TEST_TMP/$name.vsock" cid=$((20 + RANDOM % 1000))
  echo "== $name (guest CID $cid)"
  "$QT_VMM" vsock vhost-user --socket "$sock" --cid "$cid" --uds-path "$uds" \
    >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
  local backend=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
  [ -S "$sock" ] || { cat "$TEST_TMP/$name.err"; fail "the backend did not listen on $sock"; }
  python3 "$TEST_TMP/parent.py" "$TEST_TMP/$name.parent" "$uds" &
  local parent=$!
  # qemu_tcg (tests/lib.sh: microvm, TCG, -m 256, -no-reboot, serial on stdio) plus guest RAM in
  # a shared memfd, the vhost-user device on our socket, and i8042 so that reboot=k ends QEMU.
  local rc=0
  timeout 120 bash -c 'qemu_tcg "$@"' _ "$KERNEL" "$TEST_TMP/initrd.cpio" "console=ttyS0 reboot=k panic=-1" \
    -object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem \
    -chardev socket,id=vsock0,path="$sock" -device vhost-user-vsock-device,chardev=vsock0 \
    -device i8042 "$@" </dev/null >"$TEST_TMP/$name.console" 2>&1 || rc=$?
  cat "$TEST_TMP/$name.console"
  # The backend exits by itself once QEMU has gone.
  local brc=0 waited=0
  while kill -0 "$backend" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$backend" 2>/dev/null; then kill "$backend"; fail "qt-vmm vsock vhost-user did not exit after QEMU disconnected"; fi
  wait "$backend" || brc=$?
  kill "$parent" 2>/dev/null || true
  wait "$parent" 2>/dev/null || true
  echo "-- backend stderr"; cat "$TEST_TMP/$name.err"
  echo "-- backend stdout"; cat "$TEST_TMP/$name.out"
  echo "-- parent"; cat "$TEST_TMP/$name.parent" 2>/dev/null || true
  [ "$rc" -eq 0 ] || fail "$name: QEMU did not end by itself (exit $rc; 124 = timed out)"
  [ "$brc" -eq 0 ] || fail "$name: qt-vmm vsock vhost-user exited with $brc"
  local console parent_log err out
  console=$(cat "$TEST_TMP/$name.console"); err=$(cat "$TEST_TMP/$name.err"); out=$(cat "$TEST_TMP/$name.out")
  parent_log=$(cat "$TEST_TMP/$name.parent" 2>/dev/null || true)
  expect_contains "$console" "virtio_mmio.device=" "the kernel command line (QEMU describes its device)"
  expect_contains "$console" "GUEST local cid=$cid" "console"
  expect_contains "$console" "GUEST heartbeat reply=0xb7" "console"
  expect_contains "$console" "GUEST heartbeat ok" "console"
  expect_contains "$console" "GUEST parent answered <pong: ping from the enclave>" "console"
  expect_contains "$console" "GUEST connect to the parent ok" "console"
  expect_contains "$console" "GUEST parent sent <hello enclave>" "console"
  expect_contains "$console" "GUEST accept from the parent ok" "console"
  expect_contains "$console" "GUEST done ok=${GUEST_STEPS:-4} failed=0" "console"
  expect_contains "$console" "reboot: Restarting system" "console"
  expect_not_contains "$console" "Kernel panic" "console"
  expect_contains "$parent_log" "PARENT got <ping from the enclave>" "parent"
  expect_contains "$parent_log" "PARENT connect answer <OK " "parent"
  expect_contains "$parent_log" "PARENT enclave said <hello parent>" "parent"
  expect_contains "$err" "vhost-user vsock: heartbeat from the guest (CID $cid)" "backend log"
  expect_contains "$err" "vhost-user vsock: QEMU disconnected" "backend log"
  expect_contains "$out" '"Heartbeats": 1' "backend summary"
  expect_contains "$out" '"Reason": "frontend-closed"' "backend summary"
  expect_contains "$out" "\"Features\": \"$features\"" "features QEMU acknowledged"
  [ ! -e "$sock" ] || fail "$name: the vhost-user socket was left behind"
}

# Acknowledged features: EVENT_IDX (bit 29) and vhost-user's PROTOCOL_FEATURES (bit 30); the
# legacy virtio-mmio transport never acks VERSION_1 (bit 32), the modern one does.
run_once legacy 0x60000000
run_once modern 0x160000000 -global virtio-mmio.force-legacy=false

echo "== the NSM device over vhost-user"
if qemu-system-x86_64 -device help 2>/dev/null | grep '"vhost-user-device"' >/dev/null; then
  nsm_sock="$TEST_TMP/nsm-device.vhost"
  "$BUILD/bin/nsm_vhost_user_stub" "$nsm_sock" >"$TEST_TMP/nsm-device.out" 2>&1 &
  nsm_pid=$!
  for _ in $(seq 100); do [ -S "$nsm_sock" ] && break; sleep 0.05; done
  [ -S "$nsm_sock" ] || { cat "$TEST_TMP/nsm-device.out"; fail "nsm_vhost_user_stub did not listen on $nsm_sock"; }
  GUEST_STEPS=5 run_once nsm 0x160000000 -global virtio-mmio.force-legacy=false \
    -chardev socket,id=nsm0,path="$nsm_sock" -device vhost-user-device,chardev=nsm0,virtio-id=33,num_vqs=1,config_size=0
  waited=0
  while kill -0 "$nsm_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  kill -0 "$nsm_pid" 2>/dev/null && { kill "$nsm_pid"; fail "nsm_vhost_user_stub did not exit after QEMU disconnected"; }
  nsm_rc=0; wait "$nsm_pid" || nsm_rc=$?
  echo "-- NSM backend"; cat "$TEST_TMP/nsm-device.out"
  [ "$nsm_rc" -eq 0 ] || fail "the NSM backend ended with $nsm_rc"
  nsm_out=$(cat "$TEST_TMP/nsm-device.out")
  expect_contains "$nsm_out" "NSM DRIVER_OK" "NSM backend (the guest's nsm driver started the ring)"
  expect_contains "$nsm_out" "NSM request 10 bytes: 6947657452616e646f6d" "NSM backend (the guest's raw GetRandom)"
  expect_contains "$nsm_out" "driver_ok=1 error=" "NSM backend summary"
  # {"Error": "InvalidOperation"}, the stub's answer, as the guest read it from /dev/nsm.
  expect_contains "$(cat "$TEST_TMP/nsm.console")" "GUEST nsm response=a1654572726f7270496e76616c69644f7065726174696f6e (24 bytes)" "console"
else
  echo "SKIP (part): this QEMU cannot create vhost-user-device with -device (not user-creatable upstream, 10.0.2 included)"
fi

echo "== bad usage: a reserved CID is refused before anything listens"
status=0
err=$("$QT_VMM" vsock vhost-user --socket "$TEST_TMP/bad.vhost" --cid 3 2>&1) || status=$?
[ "$status" -eq 3 ] || fail "--cid 3 gave exit $status, want 3"
expect_contains "$err" "qt-vmm: error [VSOCK_BAD_CID]"
[ ! -e "$TEST_TMP/bad.vhost" ] || fail "a socket was created for a refused CID"

echo "== a path another backend serves is refused"
"$QT_VMM" vsock vhost-user --socket "$TEST_TMP/busy.vhost" --cid 9 2>/dev/null &
busy=$!
for _ in $(seq 100); do [ -S "$TEST_TMP/busy.vhost" ] && break; sleep 0.05; done
status=0
err=$("$QT_VMM" vsock vhost-user --socket "$TEST_TMP/busy.vhost" --cid 10 2>&1) || status=$?
kill -TERM "$busy"
wait "$busy" || fail "SIGTERM before QEMU connected should end the backend cleanly"
[ "$status" -eq 6 ] || fail "a busy socket gave exit $status, want 6"
expect_contains "$err" "VHOST_USER_SOCKET_IN_USE"
echo "vhost-user vsock under QEMU: ok"
