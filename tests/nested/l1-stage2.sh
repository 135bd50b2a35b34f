#!/bin/bash
# tests/nested/l1-stage2.sh — PID 1 of L1 after l1-init's switch_root (the host's root under a
# RAM overlay). Prepares what qt-vmm and the tests need (devpts, /dev/shm, hugetlbfs, loopback,
# /dev/kvm), runs the job the host wrote into the share (9p tag "l1share", mounted at /run/l1):
#   /run/l1/job.env   exported variables and L1_CWD; /run/l1/job.cmd the command (bash -c)
# with its output in /run/l1/out.log and its exit status in /run/l1/exit, then reboots, which
# ends QEMU (-no-reboot). As PID 1 it also reaps every orphan (the tests check for zombies).
# L1_PATH_PREFIX (from l1-init): an arm64 L1's own busybox applets, before the host's x86 programs.
export PATH=${L1_PATH_PREFIX:+$L1_PATH_PREFIX:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm /dev/hugepages /run/l1
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t hugetlbfs -o pagesize=2M hugetlbfs /dev/hugepages
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 l1share /run/l1 || {
  echo "l1-stage2: cannot mount the share (9p tag l1share)" > /dev/console
  echo b > /proc/sysrq-trigger
}
ip link set lo up 2>/dev/null || echo "l1-stage2: no ip command: loopback left down" > /dev/console
hostname qt-vmm-l1 2>/dev/null || true
ln -sf /proc/self/fd /dev/fd 2>/dev/null || true

{
  echo "l1: $(uname -r) $(uname -m), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
  echo "l1: /dev/kvm $([ -c /dev/kvm ] && echo present || echo MISSING)," \
       "hugepages 2M=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)" \
       "1G=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null || echo 0)"
} > /run/l1/l1-info.txt

# Proof of life for the host (l1.sh): a wedged L1 can also go silent, its clock stopped.
( while :; do date +%s > /run/l1/alive; sleep 5; done ) &

(
  set -a
  # shellcheck disable=SC1091
  source /run/l1/job.env
  set +a
  ulimit -Hn "$L1_NOFILE_HARD" 2>/dev/null
  ulimit -Sn "$L1_NOFILE_SOFT" 2>/dev/null
  cd "$L1_CWD" || exit 126
  exec bash -c "$(cat /run/l1/job.cmd)"
) > /run/l1/out.log 2>&1 < /dev/null &
job=$!
# Reap everything until the job itself ends (orphaned daemons become our children).
status=""
while [ -z "$status" ]; do
  wait -n
  rc=$?
  kill -0 "$job" 2>/dev/null || { wait "$job"; status=$?; [ "$status" -eq 127 ] && status=$rc; }
done
echo "$status" > /run/l1/exit
sync
echo b > /proc/sysrq-trigger
sleep 10
