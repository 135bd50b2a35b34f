#!/usr/bin/env bash
# qt-vmm allocator against a fake sysfs tree (QT_VMM_SYSFS_ROOT): a 2-node, 2-way SMT host. Runs
# as any user. Checks --show (pools, node CPUs, CPUs usable by enclaves), the default page size
# and node, reserve/release writing nr_hugepages, and the errors.
source "$TOP/tests/lib.sh"
command -v jq >/dev/null || fail "jq missing; run scripts/install-deps.sh"

source "$TOP/tests/fake_sysfs.sh"
root=$TEST_TMP/sys
make_fake_sysfs "$root"
export QT_VMM_SYSFS_ROOT=$root

show=$("$QT_VMM" allocator)
echo "$show"
expect_eq "$(jq length <<<"$show")" 4 "pool count"
expect_eq "$(jq -r '.[0] | "\(.NumaNode) \(.HugepageSize) \(.Total) \(.Free) \(.FreeMiB) \(.CPUs) \(.EnclaveCPUs)"' <<<"$show")" \
  "0 2M 10 10 20 0-3,8-11 1-3,9-11" "node 0 2M row"
expect_eq "$(jq -r '.[3] | "\(.NumaNode) \(.HugepageSize) \(.Total) \(.Free) \(.FreeMiB) \(.EnclaveCPUs)"' <<<"$show")" \
  "1 1G 4 1 1024 4-7,12-15" "node 1 1G row"
table=$("$QT_VMM" --output table allocator --show)
expect_contains "$table" "EnclaveCPUs"

# Default size for 300 MiB is 2M; default node is node 1 (4 free cores vs 3): 150 pages missing.
out=$("$QT_VMM" allocator --mem 300)
expect_eq "$(jq -c '[.NumaNode, .HugepageSize, .Requested, .Reserved, .Total]' <<<"$out")" '[1,"2M",150,150,150]' "default reserve"
expect_eq "$(cat "$root/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages")" 150 "node 1 nr_hugepages"

# Node 0 already has 10 free: 20 MiB more → 0 reserved; 40 MiB → 10 more.
out=$("$QT_VMM" allocator --mem 20 --hugepage-size 2M --numa-node 0)
expect_eq "$(jq .Reserved <<<"$out")" 0 "nothing missing"
out=$("$QT_VMM" allocator --mem 40 --hugepage-size 2M --numa-node 0)
expect_eq "$(jq .Reserved <<<"$out")" 10 "10 missing"
expect_eq "$(cat "$root/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")" 20 "node 0 nr_hugepages"

# Whole GiB → 1G by default; release gives back only the 1 free page of node 1's 4.
out=$("$QT_VMM" allocator --mem 4096 --numa-node 1 --release)
expect_eq "$(jq -c '[.HugepageSize, .Requested, .Released, .Total]' <<<"$out")" '["1G",4,1,3]' "1G release"
expect_eq "$(cat "$root/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages")" 3 "node 1 1G nr_hugepages"

set +e
err=$("$QT_VMM" allocator --mem 64 --hugepage-size 16M 2>&1); rc=$?
set -e
expect_eq "$rc" 2 "bad size exit"
expect_contains "$err" "error [HUGEPAGE_SIZE_INVALID]"
set +e
err=$("$QT_VMM" allocator --mem 64 --numa-node 2 2>&1); rc=$?
set -e
expect_eq "$rc" 3 "bad node exit"
expect_contains "$err" "NUMA node 2 does not exist on this host; use --numa-node with one of: 0,1"
