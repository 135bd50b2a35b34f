# tests/lib.sh — helpers sourced by every integration test (tests/integration/*.sh).
#
# A test is a bash script: exit 0 = pass, `skip "reason"` = skipped (exit 77), anything else =
# fail. The runner exports BUILD, QT_VMM (the binary), TOP (the source tree), KERNEL (the cached
# guest bzImage, empty if not built) and TEST_TMP (a fresh directory removed afterwards).
#
#   source "$TOP/tests/lib.sh"
#   need_kernel; need_qemu
#   expect_contains "$output" "Run /init"
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

need_kernel() { [ -n "${KERNEL:-}" ] && [ -f "$KERNEL" ] || fail "guest kernel missing; run: make kernel"; }
need_qemu() { command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 missing; run scripts/install-deps.sh"; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root (run make test as root)"; }
need_kvm() {
  [ -e /dev/kvm ] || skip "no /dev/kvm on this host"
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible to $(id -un)"
}

# expect_eq ACTUAL EXPECTED [WHAT]: fails unless they are equal.
expect_eq() {
  [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# expect_contains TEXT NEEDLE [WHAT]: fails, showing the text, unless NEEDLE occurs in TEXT.
expect_contains() {
  if ! grep -qF -- "$2" <<<"$1"; then
    echo "---- output ----" >&2; echo "$1" | tail -n 40 >&2; echo "----------------" >&2
    fail "${3:-output} does not contain: $2"
  fi
}
expect_not_contains() {
  if grep -qF -- "$2" <<<"$1"; then fail "${3:-output} unexpectedly contains: $2"; fi
}

# expect_cli_error STATUS CODE CMD...: CMD (run in the current directory, which gets out.txt and
# err.txt) must exit with STATUS, print one stderr line containing [CODE] and nothing on stdout.
expect_cli_error() {
  local want=$1 code=$2; shift 2
  set +e; "$@" >out.txt 2>err.txt; local got=$?; set -e
  [ "$got" -eq "$want" ] || { cat err.txt; fail "$* exited $got, expected $want"; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "$*: stderr is not one line"; }
  expect_contains "$(cat err.txt)" "[$code]" "stderr of $*"
  [ ! -s out.txt ] || fail "$*: printed a result despite failing"
}

# make_initramfs DIR OUT: a newc cpio of DIR (sorted, owned by root) — for tests that need a
# ramdisk before qt-vmm's own image builder is involved.
make_initramfs() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$2"
}

# qemu_tcg KERNEL INITRD CMDLINE [extra qemu args...]: boots under software emulation with the
# microvm machine, console on stdout; QEMU exits when the guest reboots (reboot=t, -no-reboot).
qemu_tcg() {
  local kernel=$1 initrd=$2 cmdline=$3; shift 3
  qemu-system-x86_64 -M microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off -accel tcg -cpu max \
    -m 256 -smp 2 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$cmdline" "$@"
}

# arm64 guests (README "Cross-building for arm64"): make ARCH=arm64 builds them into build/arm64/
# and make kernel ARCH=arm64 the Image, which make test does not; tests of them skip until then.
#   need_arm64_guest PROGRAM...  the arm64 pieces an arm64 guest test needs: sets ARM64_GUEST (the
#                     cross-built guest programs, $BUILD/arm64/guest, which make test builds) and
#                     KERNEL_ARM64 (the arm64 Image: as set, else the cache's); skips naming the
#                     first piece missing
need_arm64_guest() {
  command -v "${QT_VMM_QEMU_AARCH64:-qemu-system-aarch64}" >/dev/null \
    || fail "qemu-system-aarch64 missing; run scripts/install-deps.sh"
  ARM64_GUEST="$BUILD/arm64/guest"
  local p
  for p in "$@"; do
    [ -x "$ARM64_GUEST/$p" ] || skip "no cross-built $ARM64_GUEST/$p; make test builds it where aarch64-linux-gnu-gcc is (scripts/install-deps.sh)"
  done
  "$TOP/scripts/check-elf-arch.sh" arm64 --static "${@/#/$ARM64_GUEST/}" >/dev/null || fail "the cross-built guest programs are not static arm64 ELF (above)"
  if [ -z "${KERNEL_ARM64:-}" ]; then
    KERNEL_ARM64=$("$TOP/kernel-config/build-kernel-arm64.sh" --path 2>/dev/null) || KERNEL_ARM64=""
  fi
  [ -n "$KERNEL_ARM64" ] && [ -f "$KERNEL_ARM64" ] || skip "no arm64 guest kernel (set KERNEL_ARM64, or build it: make kernel ARCH=arm64)"
  [ "$(dd if="$KERNEL_ARM64" bs=1 skip=56 count=4 status=none)" = $'ARM\x64' ] || fail "KERNEL_ARM64=$KERNEL_ARM64 is not an arm64 Image"
}

# qemu_tcg_arm64 KERNEL INITRD CMDLINE [extra qemu args...]: qemu_tcg for an arm64 Image, on the
# virt machine with a GICv3 (what the qt-vmm arm64 back end gives a guest), console on the PL011.
qemu_tcg_arm64() {
  local kernel=$1 initrd=$2 cmdline=$3; shift 3
  qemu-system-aarch64 -M virt,gic-version=3 -accel tcg -cpu max -m 256 -smp 2 -nodefaults -no-user-config \
    -nographic -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd" -append "$cmdline" "$@"
}

# console_shows ID TEXT SECONDS: polls `$QT_VMM enclave console --no-follow` of enclave ID until it
# contains TEXT; returns 0 once it does, 1 after SECONDS.
console_shows() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    "$QT_VMM" enclave console --enclave-id "$1" --no-follow 2>/dev/null | grep -F -- "$2" >/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# kill_tree PID: kills PID and all its descendants (a background `qemu_tcg ... &` is a subshell
# whose child is QEMU: killing only the subshell would leave QEMU running).
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
