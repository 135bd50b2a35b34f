# guest-init/boot_test_lib.sh — helpers for the guest-init boot tests (tests/integration/init_*.sh).
# Source it after tests/lib.sh. It builds the initramfs exactly in make-img's layout — ramdisk 0
# with /init and /dev, ramdisk 1 with /rootfs/..., /cmd, /env and optional /workdir, /user — as
# two newc archives concatenated, and boots it under QEMU TCG with the real guest kernel and the
# EIF's command line. There is no vsock device, so the heartbeat and the status report fail
# (logged) and the app still runs.
#
#   source "$TOP/tests/lib.sh"; source "$TOP/guest-init/boot_test_lib.sh"
#   enclave_layout                              # $R0 and $R1 (ramdisk trees), a small rootfs
#   install_app app_echo_env /usr/bin/echo-env  # a tests/apps program into the rootfs
#   write_cmd echo-env --exit=3; write_env PATH=/usr/bin
#   boot_enclave                                # $BOOT_OUT; fails unless the VM ended cleanly

# The EIF command line make-img writes (reboot=k: the kernel ends by writing 0xFE to port 0x64).
ENCLAVE_CMDLINE="console=ttyS0 reboot=k panic=-1 random.trust_cpu=on"

enclave_layout() {
  need_kernel
  need_qemu
  [ -x "$BUILD/guest/init" ] || fail "missing $BUILD/guest/init; run make"
  R0="$TEST_TMP/ramdisk0" R1="$TEST_TMP/ramdisk1"
  rm -rf "$R0" "$R1"
  mkdir -p "$R0/dev" "$R1/rootfs"/{dev,run,sys,var,proc,tmp,etc,root,usr/bin,home/app}
  install -m 0755 "$BUILD/guest/init" "$R0/init"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'app:x:1000:1000:App:/home/app:/bin/sh' \
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin' > "$R1/rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'daemon:x:1:' 'staff:x:50:app,daemon' 'app:x:1000:' 'audio:x:29:app' \
    > "$R1/rootfs/etc/group"
  : > "$R1/env"
}

# install_app PROGRAM PATH_IN_ROOTFS
install_app() {
  [ -x "$BUILD/guest/$1" ] || fail "missing $BUILD/guest/$1; run make"
  mkdir -p "$(dirname "$R1/rootfs$2")"
  install -m 0755 "$BUILD/guest/$1" "$R1/rootfs$2"
}

write_cmd() { printf '%s\n' "$@" > "$R1/cmd"; }
write_env() { printf '%s\n' "$@" > "$R1/env"; }

# boot_enclave: boots, prints the console, leaves it in $BOOT_OUT. Fails unless QEMU ended by
# itself (the guest's keyboard-controller reset with -no-reboot) without a kernel panic.
boot_enclave() {
  make_initramfs "$R0" "$TEST_TMP/ramdisk0.cpio"
  make_initramfs "$R1" "$TEST_TMP/ramdisk1.cpio"
  cat "$TEST_TMP/ramdisk0.cpio" "$TEST_TMP/ramdisk1.cpio" > "$TEST_TMP/initrd.cpio"
  export -f qemu_tcg
  local rc=0
  # microvm has no i8042 by default; without one the reboot=k write to port 0x64 goes nowhere
  # and the kernel hangs in its fallback reboot methods. With it QEMU resets, and -no-reboot exits.
  BOOT_OUT=$(timeout 180 bash -c 'qemu_tcg "$@"' _ "$KERNEL" "$TEST_TMP/initrd.cpio" \
    "$ENCLAVE_CMDLINE" -device i8042 2>&1) || rc=$?
  echo "$BOOT_OUT"
  [ "$rc" -eq 0 ] || fail "QEMU did not end by itself (exit $rc; 124 = timed out)"
  expect_contains "$BOOT_OUT" "Run /init as init process" "console"
  expect_not_contains "$BOOT_OUT" "Kernel panic" "console"
  expect_contains "$BOOT_OUT" "reboot: Restarting system" "console"
}
