#!/usr/bin/env bash
# timeout: 900
# The arm64 nested L1 (tests/nested/l1.sh --arch arm64: Debian's arm64 kernel at EL2 under
# qemu-system-aarch64's TCG) has a working /dev/kvm, guest user mode included: the cross-built
# probe (tests/guests/arm64_kvm_probe.c) runs a one-page guest there and checks its exits — an
# MMIO write with its data, the virtual counter counting, an svc from EL0 trapping to EL1 (ESR
# and SPSR), PSCI SYSTEM_OFF as a shutdown event — with an in-kernel GICv3 made and initialized. Prints L1's boot time (its uptime
# when the probe began) and the test's wall time: what the arm64 L1 costs in CI.
# Skips only where qemu-system-aarch64 or the aarch64 cross compiler is absent.
source "$TOP/tests/lib.sh"
command -v qemu-system-aarch64 >/dev/null \
  || skip "qemu-system-aarch64 missing (package qemu-system-arm; scripts/install-deps.sh)"
command -v aarch64-linux-gnu-gcc >/dev/null \
  || skip "aarch64-linux-gnu-gcc missing (package gcc-aarch64-linux-gnu; scripts/install-deps.sh)"
"$TOP/tests/nested/l1-assets.sh" --arch arm64 --check || fail "the arm64 L1 cannot be built here (see above)"

started=$(date +%s.%N)
# The arm64 build of this tree goes beside the x86 one (build/arm64 for build, as make ARCH=arm64).
probe="$BUILD/arm64/guest/arm64_kvm_probe"
make -s -C "$TOP" ARCH=arm64 SAN=0 BUILD="$BUILD/arm64" "$probe" >"$TEST_TMP/make.log" 2>&1 \
  || { cat "$TEST_TMP/make.log" >&2; fail "building $probe failed"; }

# One L1 boot; a second one only when the first wedged (l1.sh exit 75, see there). The probe
# needs no hugepages: none reserved saves L1 zeroing 1.5 GiB under TCG (≈ 5 s of its boot).
for attempt in 1 2; do
  rc=0
  "$TOP/tests/nested/l1.sh" --arch arm64 --quiet --timeout 300 --hugepages-1g 0 --hugepages-2m 0 -- \
    bash -c 'echo "uptime $(cut -d" " -f1 /proc/uptime)"; exec "$0"' "$probe" >"$TEST_TMP/out" 2>&1 || rc=$?
  [ "$rc" -eq 75 ] || break
  echo "arm64_l1_kvm: L1 wedged (attempt $attempt); $(tail -n 1 "$TEST_TMP/out")"
done
logs="$BUILD/nested-logs-arm64"
out=$(cat "$logs/out.log" 2>/dev/null || true)
echo "$out"
tail -n 1 "$TEST_TMP/out"
expect_contains "$(cat "$logs/l1-info.txt" 2>/dev/null)" "/dev/kvm present"
for check in vcpu_init gicv3 mmio timer usermode system_off; do
  grep -q "^ARM64-PROBE $check=ok" <<<"$out" || fail "probe check $check did not pass (L1 logs: $logs)"
done
[ "$rc" -eq 0 ] || fail "the probe exited $rc in L1 (L1 logs: $logs)"
boot=$(sed -n 's/^uptime //p' <<<"$out")
echo "arm64_l1_kvm: L1 booted in ${boot:-?} s (its uptime when the probe began); test wall time" \
  "$(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s"
