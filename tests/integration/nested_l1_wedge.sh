#!/usr/bin/env bash
# tests/nested/l1.sh sees a wedged L1 on its console and gives up at once with exit 75 (so that
# a caller boots a new L1), for the stall message of each L1 kernel: the x86 one (preemptible
# RCU: "rcu_preempt self-detected stall") and the arm64 one (no preemptible RCU: "rcu_sched
# self-detected stall"), and for a soft lockup. QEMU is a stand-in here that writes the message
# to the console file and then waits; l1.sh must kill it. Needs the L1 assets (cached after the
# first nested run); skips where they cannot be had.
source "$TOP/tests/lib.sh"
mkdir -p "$TEST_TMP/bin"
for arch in x86_64 arm64; do
  "$TOP/tests/nested/l1-assets.sh" --arch "$arch" --check >/dev/null 2>&1 \
    || skip "the $arch L1's assets cannot be had here: $("$TOP/tests/nested/l1-assets.sh" --arch "$arch" --check 2>&1)"
done

# fake_qemu NAME MESSAGE: a QEMU that writes MESSAGE to its -serial file, records its pid, waits.
fake_qemu() {
  cat > "$TEST_TMP/bin/$1" <<FAKE
#!/bin/bash
while [ \$# -gt 0 ]; do [ "\$1" = -serial ] && log=\${2#file:}; shift; done
echo "[   42.000000] $2" >> "\$log"
echo \$\$ > "$TEST_TMP/qemu.pid"
exec sleep 300
FAKE
  chmod +x "$TEST_TMP/bin/$1"
}

check_wedge() { # ARCH QEMU MESSAGE
  local rc=0 pid
  fake_qemu "$2" "$3"
  rm -f "$TEST_TMP/qemu.pid"
  PATH="$TEST_TMP/bin:$PATH" timeout 150 "$TOP/tests/nested/l1.sh" --arch "$1" --quiet \
    --log-dir "$TEST_TMP/logs-$1" -- true >"$TEST_TMP/out" 2>&1 || rc=$?
  expect_eq "$rc" 75 "l1.sh --arch $1 exit status on '$3' ($(tail -n 1 "$TEST_TMP/out"))"
  expect_contains "$(cat "$TEST_TMP/out")" "wedged"
  pid=$(cat "$TEST_TMP/qemu.pid")
  ! kill -0 "$pid" 2>/dev/null || fail "the QEMU of the wedged L1 ($1) was left running"
  echo "ok: --arch $1, '$3' -> exit 75"
}

check_wedge arm64 qemu-system-aarch64 "rcu: INFO: rcu_sched self-detected stall on CPU"
check_wedge x86_64 qemu-system-x86_64 "rcu: INFO: rcu_preempt self-detected stall on CPU"
check_wedge arm64 qemu-system-aarch64 "watchdog: BUG: soft lockup - CPU#2 stuck for 26s! [swapper/2:0]"
