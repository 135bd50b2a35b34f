#!/usr/bin/env bash
# The NSM device on qt-vmm's KVM VMM as far as a guest kernel alone can show it (no user mode
# needed, so it runs on the nested, software-assisted KVM of the build machines too): the guest
# kernel (CONFIG_NSM) boots with the device in virtio-mmio slot 1 and a stub answering
# requests (tests/tools/nsm_boot_probe.cc); Linux announces both slots, its nsm driver sets
# DRIVER_OK with VERSION_1 and EVENT_IDX, and its hwrng's first request, "GetRandom" as CBOR
# text, reaches the handler through the driver's two-chain layout and the ioeventfd/irqfd
# wiring. The app-level end-to-end test is tests/integration/tcg_attestation.sh.
source "$TOP/tests/lib.sh"
need_kvm
need_root
need_kernel
[ -x "$BUILD/bin/nsm_boot_probe" ] || fail "missing $BUILD/bin/nsm_boot_probe; run make"
quirks=()
verdict=$("$QT_VMM" host-check | jq -r '.[] | select(.Check == "guest-user-mode") | .Verdict')
[ "$verdict" = ok ] || quirks=(--nested-quirks) # the same workarounds enclave start applies here
rc=0
out=$("$BUILD/bin/nsm_boot_probe" "$KERNEL" "${quirks[@]}" --timeout 540) || rc=$?
echo "$out"
line=$(grep '^NSMPROBE ' <<<"$out") || fail "nsm_boot_probe printed no verdict (exit $rc)"
expect_contains "$out" "virtio-mmio: Registering device virtio-mmio.1 at 0xd0001000-0xd0001fff, IRQ 6." console
expect_contains "$line" "driver_ok=1" "the guest's nsm driver set DRIVER_OK"
features=$(sed -nE 's/.* features=(0x[0-9a-f]+).*/\1/p' <<<"$line")
(( features & (1 << 32) )) || fail "VIRTIO_F_VERSION_1 not negotiated: $line"
(( features & (1 << 29) )) || fail "VIRTIO_F_EVENT_IDX not negotiated: $line"
# 0x69 = CBOR text of 9 bytes, then "GetRandom".
expect_contains "$line" "first=6947657452616e646f6d" "the first request (hwrng's GetRandom)"
expect_eq "$rc" 0 "nsm_boot_probe exit status"
echo PASS
