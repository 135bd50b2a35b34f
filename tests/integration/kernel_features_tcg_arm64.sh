#!/usr/bin/env bash
# The arm64 guest kernel (make kernel ARCH=arm64) boots under QEMU software emulation on the virt
# machine and has every feature the fragments promise, checked from inside by the cross-built
# tests/guests/kernel_probe.c running as /init (the arm64 twin of kernel_features_tcg.sh).
source "$TOP/tests/lib.sh"
need_arm64_guest kernel_probe

root="$TEST_TMP/root"
mkdir -p "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
cp "$ARM64_GUEST/kernel_probe" "$root/init"
make_initramfs "$root" "$TEST_TMP/initrd.cpio"

out=$(qemu_tcg_arm64 "$KERNEL_ARM64" "$TEST_TMP/initrd.cpio" "console=ttyAMA0 panic=-1" 2>&1)
echo "$out"
expect_contains "$out" "Run /init as init process" "console"
expect_contains "$out" "PROBE DONE passed=17 failed=0" "probe summary"
expect_not_contains "$out" "Kernel panic"
expect_not_contains "$out" "PCI: Probing"
expect_not_contains "$out" "ACPI: Core revision"
