#!/usr/bin/env bash
# make demo: the newcomer's first run. Builds everything (make does that before calling us),
# then boots the project's guest kernel with the kernel feature probe as /init under QEMU
# software emulation and shows its console.
# This grows with the project: once make-img, the VMM and the vsock device land it builds a
# sample EIF, starts it in debug mode, follows its console and stops it.
set -euo pipefail
: "${BUILD:?}"
top=$(cd "$(dirname "$0")/.." && pwd)
kernel=$("$top/kernel-config/build-kernel.sh" --path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/dev" "$work/root/proc" "$work/root/sys" "$work/root/tmp"
cp "$BUILD/guest/kernel_probe" "$work/root/init"
(cd "$work/root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$work/initrd"
echo "demo: booting $kernel under QEMU (software emulation) with the kernel probe as /init"
qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off -accel tcg -cpu max \
  -m 256 -smp 2 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
  -kernel "$kernel" -initrd "$work/initrd" -append "console=ttyS0 reboot=t panic=-1 quiet"
echo "demo: guest powered off"
