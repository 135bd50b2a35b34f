#!/usr/bin/env bash
# The guest kernel boots under QEMU software emulation and has every feature the fragment
# promises, checked from inside by tests/guests/kernel_probe.c running as /init.
source "$TOP/tests/lib.sh"
need_kernel
need_qemu

root="$TEST_TMP/root"
mkdir -p "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
cp "$BUILD/guest/kernel_probe" "$root/init"
make_initramfs "$root" "$TEST_TMP/initrd.cpio"

out=$(qemu_tcg "$KERNEL" "$TEST_TMP/initrd.cpio" "console=ttyS0 reboot=t panic=-1" 2>&1)
echo "$out"
expect_contains "$out" "Run /init as init process" "console"
expect_contains "$out" "PROBE DONE passed=17 failed=0" "probe summary"
expect_not_contains "$out" "Kernel panic"
# Modules, PCI and ACPI are compiled out: the kernel must not even mention probing them.
expect_not_contains "$out" "PCI: Probing"
expect_not_contains "$out" "ACPI: Core revision"
