#!/usr/bin/env bash
# qt-vmm allocator on the real sysfs (root): reserve 128 more 2 MiB pages (256 MiB), check the JSON
# against the kernel's counters, reserve again (nothing missing), release; then 2 more 1 GiB pages,
# asserting whichever outcome the kernel gives (granted, or HUGEPAGES_NOT_GRANTED with the pool
# put back). The trap restores the original nr_hugepages whatever happens.
source "$TOP/tests/lib.sh"
need_root
command -v jq >/dev/null || fail "jq missing; run scripts/install-deps.sh"

node_dir=/sys/devices/system/node/node0/hugepages
[ -d "$node_dir" ] || node_dir=/sys/kernel/mm/hugepages
p2m=$node_dir/hugepages-2048kB
p1g=$node_dir/hugepages-1048576kB
[ -d "$p2m" ] || skip "this kernel has no 2 MiB hugepage pool ($p2m)"

orig2m=$(cat "$p2m/nr_hugepages")
orig1g=$( [ -d "$p1g" ] && cat "$p1g/nr_hugepages" || echo "")
restore() {
  [ "$(cat "$p2m/nr_hugepages")" = "$orig2m" ] || echo "$orig2m" > "$p2m/nr_hugepages" || true
  if [ -n "$orig1g" ] && [ "$(cat "$p1g/nr_hugepages")" != "$orig1g" ]; then echo "$orig1g" > "$p1g/nr_hugepages" || true; fi
}
trap restore EXIT

field() { jq -er ".$2" <<<"$1" || fail "JSON has no $2: $1"; }

# --- 2 MiB pages for 256 MiB ------------------------------------------------------------------
# Other tests may hold pages of this pool at the same time, so the test asks for its 128 pages
# on top of what is free now (so exactly 128 are missing) and later gives back exactly 128.
free0=$(cat "$p2m/free_hugepages")
out=$("$QT_VMM" allocator --mem $(( (free0 + 128) * 2 )) --hugepage-size 2M --numa-node 0)
echo "reserve 2M: $out"
expect_eq "$(field "$out" NumaNode)" 0 NumaNode
expect_eq "$(field "$out" HugepageSize)" 2M HugepageSize
expect_eq "$(field "$out" Requested)" "$((free0 + 128))" Requested
expect_eq "$(field "$out" Reserved)" 128 Reserved
expect_eq "$(field "$out" Total)" "$(cat "$p2m/nr_hugepages")" "Total vs sysfs nr_hugepages"
expect_eq "$(field "$out" Total)" "$((orig2m + 128))" "Total vs original + 128"
expect_eq "$(field "$out" Free)" "$(cat "$p2m/free_hugepages")" "Free vs sysfs free_hugepages"
[ "$(field "$out" Free)" -ge 128 ] || fail "fewer than 128 free pages after reserving: $out"

out=$("$QT_VMM" allocator --mem 256 --hugepage-size 2M --numa-node 0)
echo "reserve 2M again: $out"
expect_eq "$(field "$out" Requested)" 128 Requested
expect_eq "$(field "$out" Reserved)" 0 "Reserved on a second run (pages already free)"

show=$("$QT_VMM" allocator --show)
echo "show: $show"
row=$(jq -ec '.[] | select(.NumaNode == 0 and .HugepageSize == "2M")' <<<"$show") || fail "--show has no node 0 2M pool: $show"
expect_eq "$(field "$row" Total)" "$(cat "$p2m/nr_hugepages")" "--show Total"
expect_eq "$(field "$row" FreeMiB)" "$(( $(cat "$p2m/free_hugepages") * 2 ))" "--show FreeMiB"
if [ -f /sys/devices/system/node/node0/cpulist ]; then
  expect_eq "$(field "$row" CPUs)" "$(cat /sys/devices/system/node/node0/cpulist)" "--show CPUs vs node0/cpulist"
fi
[ "$(id -u nobody 2>/dev/null)" ] && {
  as_nobody=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QT_VMM" allocator --show) || fail "--show failed without root"
  expect_eq "$(jq length <<<"$as_nobody")" "$(jq length <<<"$show")" "--show as nobody"
  set +e; err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$QT_VMM" allocator --mem 256 2>&1); rc=$?; set -e
  expect_eq "$rc" 9 "exit status without root"
  expect_contains "$err" "error [ALLOCATOR_NEEDS_ROOT]"
}

before=$(cat "$p2m/nr_hugepages")
out=$("$QT_VMM" allocator --mem 256 --hugepage-size 2M --numa-node 0 --release)
echo "release 2M: $out"
expect_eq "$(field "$out" Released)" 128 Released
expect_eq "$(cat "$p2m/nr_hugepages")" "$((before - 128))" "nr_hugepages after release"
expect_eq "$(field "$out" Total)" "$orig2m" "Total after release (back to the original)"
expect_eq "$(field "$out" Free)" "$(cat "$p2m/free_hugepages")" "Free after release vs sysfs"

set +e; err=$("$QT_VMM" allocator --mem 256 --hugepage-size 2M --numa-node 999 2>&1); rc=$?; set -e
expect_eq "$rc" 3 "exit status for a missing node"
expect_contains "$err" "error [NUMA_NODE_INVALID]"

# --- 1 GiB pages: 2 pages for 2048 MiB ------------------------------------------------------
[ -n "$orig1g" ] || { echo "no 1 GiB pool on this kernel; 1G part not run"; exit 0; }
free1=$(cat "$p1g/free_hugepages")
missing1=2
set +e; out=$("$QT_VMM" allocator --mem $(( (free1 + 2) * 1024 )) --hugepage-size 1G --numa-node 0 2>"$TEST_TMP/err"); rc=$?; set -e
err=$(cat "$TEST_TMP/err")
if [ "$rc" -eq 0 ]; then
  echo "reserve 1G (granted): $out"
  expect_eq "$(field "$out" HugepageSize)" 1G HugepageSize
  expect_eq "$(field "$out" Requested)" "$((free1 + 2))" Requested
  expect_eq "$(field "$out" Reserved)" 2 Reserved
  expect_eq "$(field "$out" Total)" "$(cat "$p1g/nr_hugepages")" "1G Total vs sysfs"
  expect_eq "$(field "$out" Total)" "$((orig1g + missing1))" "1G Total vs original + missing"
  [ "$(cat "$p1g/free_hugepages")" -ge 2 ] || fail "fewer than 2 free 1G pages after reserving"
  out=$("$QT_VMM" allocator --mem 2048 --hugepage-size 1G --numa-node 0 --release)
  echo "release 1G: $out"
  expect_eq "$(field "$out" Released)" 2 "1G Released"
  expect_eq "$(cat "$p1g/nr_hugepages")" "$orig1g" "1G nr_hugepages after release"
else
  echo "reserve 1G (not granted, rc=$rc): $err"
  expect_eq "$rc" 6 "exit status when the kernel grants fewer pages"
  expect_contains "$err" "error [HUGEPAGES_NOT_GRANTED]: the kernel granted only"
  expect_contains "$err" "of $missing1 missing 1G pages on NUMA node 0"
  expect_eq "$out" "" "stdout on failure"
  expect_eq "$(cat "$p1g/nr_hugepages")" "$orig1g" "1G pool put back after a short grant"
fi
