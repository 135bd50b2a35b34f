#!/usr/bin/env bash
# The project's Linux kernel boots under qt-vmm on KVM up to the hand-over to init.
# On hosts whose KVM cannot run guest user mode (host-check says so) the init then dies at its
# first system call; that is the host's limit, and the test checks the kernel got that far.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
need_kernel
vmm_setup

root="$TEST_TMP/root"
mkdir -p "$root/dev"
cp "$BUILD/guest/kernel_probe" "$root/init"
make_initramfs "$root" "$TEST_TMP/initrd.cpio"
"$BUILD/bin/eif-testdata" "$TEST_TMP/linux.eif" "$KERNEL" "console=ttyS0 reboot=k panic=-1" "$TEST_TMP/initrd.cpio" >/dev/null

out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/linux.eif" --cpus 1 --allow-shared-cpus --mem 256 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
# About 35-60 s on the nested KVM of the build machines (minutes when the machine is loaded);
# well under a second of guest time on real hardware.
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt 540 ]; do
  [ "$(enclave_field "$id" State)" = TERMINATED ] && break
  "$QT_VMM" enclave console --enclave-id "$id" --no-follow 2>/dev/null | grep "Run /init as init process" >/dev/null && break
  sleep 2
done
echo "waited $(( $(date +%s) - start )) s"
console=$("$QT_VMM" enclave console --enclave-id "$id" --no-follow 2>/dev/null || true)
echo "$console" | tail -n 40
expect_contains "$console" "Linux version 6.12."
expect_contains "$console" "serial8250: ttyS0 at I/O 0x3f8"
expect_contains "$console" "Run /init as init process"
expect_not_contains "$console" "Kernel panic - not syncing: VFS"
# Linux's virtio-mmio and vsock drivers probed qt-vmm's device before init: DRIVER_OK is set
# and VERSION_1 (bit 32) was negotiated.
device=$("$QT_VMM" enclave query --enclave-id "$id" | jq -c '.[0].VsockDevice')
echo "vsock device: $device"
[ "$(jq -r .DriverOk <<<"$device")" = true ] || fail "the guest's virtio-vsock driver did not set DRIVER_OK: $device"
(( $(jq -r .Features <<<"$device") & (1 << 32) )) || fail "VIRTIO_F_VERSION_1 not negotiated: $device"
# The security module in slot 1, answered by the real module inside the sandboxed daemon: the
# kernel's nsm driver bound and its hwrng's GetRandom requests were served without an error.
expect_contains "$console" "virtio-mmio: Registering device virtio-mmio.1 at 0xd0001000-0xd0001fff, IRQ 6."
attestation=$("$QT_VMM" enclave query --enclave-id "$id" | jq -c '.[0].Attestation | del(.PCRs)')
echo "attestation: $attestation"
(( $(jq -r .Requests <<<"$attestation") >= 1 )) || fail "no NSM request reached the module: $attestation"
expect_eq "$(jq -r .Errors <<<"$attestation")" 0 "NSM requests answered with an error"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
