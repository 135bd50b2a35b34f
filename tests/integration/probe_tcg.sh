#!/usr/bin/env bash
# The freestanding probe guest (tests/guests/probe/, $BUILD/guest/probe.bzImage) boots under QEMU
# software emulation through all three of its entries and every mode behaves as its README says:
#   - QEMU -kernel (qboot enters the bzImage in real mode) -> 16-bit entry -> 32-bit -> 64-bit;
#   - the multiboot shim ($BUILD/guest/probe-mbshim.bin) -> 64-bit entry (what qt-vmm uses)
#     and -> 32-bit entry.
# Checks the report against what was given (command line round trip, initrd CRC32 computed here,
# e820 and RAM size, RAM test), usermode=ok (TCG runs ring 3 correctly), badio survives, triple and
# firstio end QEMU, the first port write is 0x42 to port 0x80, console lines and their CRC32,
# spin ticks, hlt keeps running.
source "$TOP/tests/lib.sh"
need_qemu
probe="$BUILD/guest/probe.bzImage"
shim="$BUILD/guest/probe-mbshim.bin"
[ -f "$probe" ] && [ -f "$shim" ] || fail "probe guest not built; run: make BUILD=$BUILD"

export -f qemu_tcg
# boot KERNEL INITRD CMDLINE [qemu args...]: qemu_tcg with a time limit; prints the console.
boot() { timeout --kill-after=5 60 bash -c 'qemu_tcg "$@"' _ "$@" </dev/null; }
# field OUTPUT KEY: the value of the first "PROBE KEY=value" line.
field() { sed -n "s/^PROBE $2=//p" <<<"$1" | head -n1 | tr -d '\r'; }

initrd="$TEST_TMP/initrd.bin"
head -c 300007 /dev/urandom >"$initrd"
want_crc=$(python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(open(sys.argv[1], "rb").read()))' "$initrd")
want_size=$(stat -c %s "$initrd")
marker="marker=$RANDOM$RANDOM x.y=a,b:c/d"

check_report() { # OUTPUT ENTRY EXPECTED-CMDLINE
  local out=$1 entry=$2 cmdline=$3
  expect_contains "$out" "PROBE start entry=$entry mode=report"
  [ "$(field "$out" entry)" = "$entry" ] || fail "entry is not $entry"
  [ "$(field "$out" cpl)" = 0 ] || fail "not at CPL 0"
  [ "$(field "$out" boot_flag)" = 0xaa55 ] || fail "boot_params.boot_flag"
  [ "$(field "$out" cmdline)" = "$cmdline" ] || fail "command line did not round-trip: $(field "$out" cmdline)"
  [ "$(field "$out" initrd_size)" = "$want_size" ] || fail "initrd size $(field "$out" initrd_size) != $want_size"
  [ "$(field "$out" initrd_crc32)" = "$want_crc" ] || fail "initrd CRC32 $(field "$out" initrd_crc32) != $want_crc"
  # e820: RAM at 0 and from 1 MiB, 256 MiB in all (QEMU -m 256), nothing overlapping.
  python3 - "$out" <<'PY' || fail "e820 map is not sane"
import sys
ram = []
for line in sys.argv[1].splitlines():
    if line.startswith("PROBE e820="):
        a, s, t = line.split("=", 1)[1].split(":")
        a, s, t = int(a, 16), int(s, 16), int(t)
        if s and t == 1:
            ram.append((a, a + s))
ram.sort()
assert ram and ram[0][0] == 0, ram
assert any(a <= 0x100000 < e for a, e in ram), ram
assert all(ram[i][1] <= ram[i + 1][0] for i in range(len(ram) - 1)), ram
total = sum(e - a for a, e in ram)
assert 250 << 20 <= total <= 256 << 20, total
top = max(e for a, e in ram)
mem_top = [l for l in sys.argv[1].splitlines() if l.startswith("PROBE mem_top=")][0]
assert int(mem_top.split("=")[1], 16) == top, (mem_top, top)
PY
  expect_contains "$out" "PROBE mem_test=ok"
  expect_contains "$out" "PROBE cpuid_hv_sig=TCGTCGTCGTCG"
  expect_contains "$out" "PROBE done"
  expect_not_contains "$out" "PROBE exception"
}

echo "== report, QEMU -kernel (real-mode entry)"
out=$(boot "$probe" "$initrd" "probe.mode=report $marker")
echo "$out"
check_report "$out" 16 "probe.mode=report $marker"

for entry in 64 32; do
  echo "== report, multiboot shim -> $entry-bit entry"
  out=$(boot "$shim" "$probe,$initrd" "shim.entry=$entry probe.mode=report $marker")
  echo "$out"
  # QEMU's multiboot loader puts the kernel's file name in front of the command line.
  check_report "$out" "$entry" "$shim shim.entry=$entry probe.mode=report $marker"
done

echo "== RAM test with a sample every 2 MiB, console through rep outsb"
out=$(boot "$shim" "$probe,$initrd" "probe.mode=report probe.mem_samples=1024 probe.uart=outsb")
expect_contains "$out" "PROBE mem_test=ok samples=130 stride=0x200000"
expect_contains "$out" "PROBE initrd_crc32=$want_crc"
out=$(boot "$probe" "$initrd" "probe.mode=report probe.mem_samples=0")
expect_contains "$out" "PROBE mem_test=skipped"

echo "== usermode (64-bit entry and real-mode entry)"
out=$(boot "$shim" "$probe" "probe.mode=usermode")
echo "$out"
expect_contains "$out" "PROBE usermode_syscall cs=0x8 cpl=0"
expect_contains "$out" "PROBE usermode=ok"
out=$(boot "$probe" "$initrd" "probe.mode=usermode")
expect_contains "$out" "PROBE usermode=ok"

echo "== badio"
out=$(boot "$probe" "$initrd" "probe.mode=badio")
echo "$out"
expect_contains "$out" "PROBE badio port=0x1234 in8=0xff"
expect_contains "$out" "PROBE badio mmio=above_ram addr=0x10000000"
expect_contains "$out" "PROBE badio mmio=top_of_phys"
expect_contains "$out" "PROBE survived"

echo "== triple: QEMU sees a triple fault and exits (-no-reboot)"
out=$(boot "$probe" "$initrd" "probe.mode=triple" -d cpu_reset,int -D "$TEST_TMP/triple.log")
echo "$out"
expect_contains "$out" "PROBE triple"
grep -q "Triple fault" "$TEST_TMP/triple.log" || fail "no triple fault in QEMU's log"
grep -q "v=06" "$TEST_TMP/triple.log" || fail "the triple fault did not start from ud2 (#UD)"

echo "== firstio: the first guest port write is 0x42 to port 0x80"
status=0
out=$(boot "$probe" "$initrd" "probe.mode=firstio" -device isa-debug-exit,iobase=0x80,iosize=1) || status=$?
[ "$status" -eq $(((0x42 << 1) | 1)) ] || fail "isa-debug-exit on port 0x80 gave status $status, want 133"
out=$(boot "$probe" "$initrd" "probe.mode=firstio")
[ -z "$out" ] || fail "firstio printed something: $out"
for entry in 64 32; do
  status=0
  out=$(boot "$shim" "$probe" "shim.entry=$entry probe.mode=firstio" -device isa-debug-exit,iobase=0x80,iosize=1) || status=$?
  [ "$status" -eq 133 ] || fail "$entry-bit entry: isa-debug-exit on port 0x80 gave status $status, want 133"
  out=$(boot "$shim" "$probe" "shim.entry=$entry probe.mode=firstio")
  [ -z "$out" ] || fail "$entry-bit entry: firstio printed something: $out"
done

echo "== console"
out=$(boot "$probe" "$initrd" "probe.mode=console probe.lines=200")
lines=$(grep -c '^PROBE console line=' <<<"$out")
[ "$lines" -eq 200 ] || fail "console printed $lines lines, want 200"
crc=$(grep '^PROBE console line=' <<<"$out" | python3 -c 'import sys, zlib; print("%08x" % zlib.crc32(sys.stdin.buffer.read()))')
expect_contains "$out" "PROBE console_done lines=200 crc32=$crc"
expect_contains "$out" "PROBE console line=200 text=the quick brown fox"

# run_until LOG PATTERN CMDLINE: boots in the background until PATTERN shows up in LOG (30 s at
# most); leaves the QEMU pid in $qpid, still running.
run_until() {
  local log=$1 pattern=$2 cmdline=$3
  qemu_tcg "$probe" "$initrd" "$cmdline" >"$log" 2>&1 </dev/null &
  qpid=$!
  trap 'kill_tree "$qpid"' EXIT
  for _ in $(seq 300); do
    grep -q "$pattern" "$log" && return 0
    kill -0 "$qpid" 2>/dev/null || { cat "$log"; fail "QEMU ended before '$pattern'"; }
    sleep 0.1
  done
  kill_tree "$qpid"; cat "$log"; fail "no '$pattern' within 30 s"
}

echo "== spin prints ticks until killed"
run_until "$TEST_TMP/spin.log" "PROBE tick 3" "probe.mode=spin probe.tick_ms=200"
kill_tree "$qpid"; wait "$qpid" || true
cat "$TEST_TMP/spin.log"
expect_contains "$(cat "$TEST_TMP/spin.log")" "PROBE tick 1"

echo "== hlt keeps the guest alive"
run_until "$TEST_TMP/hlt.log" "PROBE hlt" "probe.mode=hlt"
sleep 1
kill -0 "$qpid" || fail "QEMU ended although the guest only halts"
kill_tree "$qpid"; wait "$qpid" || true

echo "== probe.fallback=hlt: power off ends in cli; hlt when port 0x64 does nothing (QEMU microvm)"
run_until "$TEST_TMP/fallback.log" "PROBE done" "probe.mode=report probe.fallback=hlt probe.mem_samples=0"
sleep 1
kill -0 "$qpid" || fail "QEMU ended although the fallback is hlt"
kill_tree "$qpid"; wait "$qpid" || true

echo "== unknown mode is reported"
out=$(boot "$probe" "$initrd" "probe.mode=nonsense")
expect_contains "$out" "PROBE error unknown_mode=nonsense"
echo "probe guest: all modes behave"
