# tests/fake_sysfs.sh — a fake sysfs tree for tests that run qt-vmm with QT_VMM_SYSFS_ROOT: a
# 2-node, 2-way SMT host with 16 CPUs (node 0: 0-3,8-11; node 1: 4-7,12-15) and hugepage pools
# node 0 2M 10/10 free, node 1 1G 4 (1 free), the others empty.
#
#   source "$TOP/tests/fake_sysfs.sh"; make_fake_sysfs "$TEST_TMP/sys"; export QT_VMM_SYSFS_ROOT=$TEST_TMP/sys
make_fake_sysfs() {
  local root=$1 cpu first
  w() { mkdir -p "$(dirname "$root/$1")"; echo "$2" > "$root/$1"; }
  w devices/system/cpu/online 0-15
  for cpu in $(seq 0 15); do
    first=$((cpu % 8))
    w devices/system/cpu/cpu$cpu/topology/core_id $((first % 4))
    w devices/system/cpu/cpu$cpu/topology/physical_package_id $((first / 4))
    w devices/system/cpu/cpu$cpu/topology/thread_siblings_list "$first,$((first + 8))"
  done
  w devices/system/node/node0/cpulist 0-3,8-11
  w devices/system/node/node1/cpulist 4-7,12-15
  pool() { # node size total free
    local d=devices/system/node/node$1/hugepages/hugepages-$2
    w $d/nr_hugepages "$3"; w $d/free_hugepages "$4"; w $d/surplus_hugepages 0
  }
  pool 0 2048kB 10 10; pool 0 1048576kB 0 0; pool 1 2048kB 0 0; pool 1 1048576kB 4 1
}
