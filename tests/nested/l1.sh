#!/usr/bin/env bash
# tests/nested/l1.sh — runs a command inside L1: a Debian Linux booted under QEMU's TCG with an
# emulated AMD CPU that has SVM and nested paging (-cpu max), whose kvm-amd gives a complete
# /dev/kvm with working guest user mode; or, with --arch arm64, Debian's arm64 Linux at EL2 on
# QEMU's virt machine (virtualization=on, GICv3, -cpu max), whose built-in KVM does the same for
# arm64 guests. This is how the whole enclave is tested on qt-vmm's own KVM back end on hosts
# whose /dev/kvm cannot run guest user mode, or is not of the enclave's architecture (see README,
# "Testing the KVM path"). The developer entry point:
#
#   tests/nested/l1.sh [options] [--] COMMAND [ARG...]
#     --arch A        x86_64 (default) or arm64; an arm64 L1's userland is its own bash and
#                     busybox over the host's root: only arm64 programs from the tree run there
#     --timeout S     kill L1 after S seconds (default 1800); exit 124 then (75: L1 itself wedged)
#     --mem MIB       L1 RAM (default 6144; arm64 4096)
#     --cpus N        L1 vCPUs, one per core (TCG's AMD CPU has no SMT), one NUMA node (default 6:
#                     the parent keeps CPU 0, two 2-vCPU enclaves get CPUs 1-2 and 3-4, and
#                     2 ≤ 6 − 2 as the QingTian rules want; arm64 4: one 2-vCPU enclave)
#     --hugepages-2m N / --hugepages-1g N   reserved on L1's command line (default 512 / 2;
#                     arm64 256 / 1)
#     --env NAME      pass the host's NAME into L1 (repeatable); BUILD, QT_VMM, TOP, KERNEL,
#                     TESTS, E2E_ACCEL, TEST_TIMEOUT and QT_VMM_* always pass
#     --log-dir DIR   where console.log (L1's kernel), out.log (the command's output), l1-info.txt
#                     and whatever the command wrote to /run/l1/logs/ in L1 are kept (default
#                     $BUILD/nested-logs or build/nested-logs; arm64: nested-logs-arm64)
#     --quiet         do not stream the command's output (it is still in out.log)
#   e.g. tests/nested/l1.sh -- build/bin/qt-vmm host-check
#        tests/nested/l1.sh --timeout 900 -- make test TESTS='kvm_e2e'
#
# The command runs as root in L1, in the same working directory, with the host's root mounted
# read-only under a RAM overlay (writes stay in L1), its own /tmp, /run and /dev; its exit status
# is this script's. Nothing is mounted on the host and nothing is left running: QEMU is killed on
# timeout or interrupt and the share directory is removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
timeout_s=1800 mem="" cpus="" hp2m="" hp1g="" quiet=0 log_dir="" arch=x86_64
pass_env=(BUILD QT_VMM TOP KERNEL TESTS E2E_ACCEL TEST_TIMEOUT SAN)
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --hugepages-2m) hp2m=$2; shift 2 ;;
    --hugepages-1g) hp1g=$2; shift 2 ;;
    --env) pass_env+=("$2"); shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --quiet) quiet=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "l1: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "l1: no command given (see --help)" >&2; exit 2; }
# What differs between the two L1s: the QEMU machine, the console device and the defaults.
case "$arch" in
  x86_64)
    qemu=qemu-system-x86_64 console=ttyS0 log_suffix=""
    machine=(-M "q35,smm=off" -cpu max)
    : "${mem:=6144}" "${cpus:=6}" "${hp2m:=512}" "${hp1g:=2}" ;;
  arm64)
    # pauth-impdef: QEMU's own pointer-authentication hash, far cheaper under TCG than QARMA.
    qemu=qemu-system-aarch64 console=ttyAMA0 log_suffix=-arm64
    machine=(-M "virt,virtualization=on,gic-version=3" -cpu "max,pauth-impdef=on")
    : "${mem:=4096}" "${cpus:=4}" "${hp2m:=256}" "${hp1g:=1}" ;;
  *) echo "l1: unknown --arch '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
for n in "$timeout_s" "$mem" "$cpus" "$hp2m" "$hp1g"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "l1: '$n' is not a whole number" >&2; exit 2; }
done
command -v "$qemu" >/dev/null || { echo "l1: $qemu missing; run scripts/install-deps.sh" >&2; exit 2; }

assets=$("$here/l1-assets.sh" --arch "$arch")
l1_kernel=$(sed -n 's/^KERNEL=//p' <<<"$assets")
l1_initrd=$(sed -n 's/^INITRD=//p' <<<"$assets")

: "${log_dir:=${BUILD:-$top/build}/nested-logs${log_suffix}}"
mkdir -p "$log_dir"
share=$(mktemp -d "${TMPDIR:-/tmp}/qt-vmm-l1.XXXXXX")
qemu_pid="" tail_pid=""
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null; sleep 1; kill -9 "$qemu_pid" 2>/dev/null
  fi
  for f in out.log l1-info.txt; do [ -f "$share/$f" ] && cp "$share/$f" "$log_dir/$f"; done
  [ -d "$share/logs" ] && cp -r "$share/logs/." "$log_dir/"
  rm -rf "$share"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The job: environment (including the QT_VMM_* family), working directory and the command.
{
  for name in "${pass_env[@]}" $(compgen -e | grep -E '^QT_VMM_' || true); do
    [ -n "${!name+x}" ] && printf '%s=%q\n' "$name" "${!name}"
  done
  printf 'L1_CWD=%q\n' "$PWD"
  # L1's PID 1 starts with the kernel's default 1,024 descriptors: give the job the host's limits.
  printf 'L1_NOFILE_SOFT=%s\nL1_NOFILE_HARD=%s\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
  printf 'L1_NESTED=1\n'
} > "$share/job.env"
printf '%q ' "$@" > "$share/job.cmd"
: > "$share/out.log"
rm -f "$log_dir/out.log" "$log_dir/console.log" "$log_dir/l1-info.txt"

cmdline="console=$console panic=-1 reboot=t qtl1.stage2=$here/l1-stage2.sh"
cmdline+=" default_hugepagesz=2M hugepagesz=1G hugepages=$hp1g hugepagesz=2M hugepages=$hp2m"
# The guest's console (kernel messages) goes to console.log; the command's output to out.log in
# the share, streamed below as it is written.
t0=$(date +%s.%N)
"$qemu" "${machine[@]}" \
  -accel tcg,thread=multi -m "$mem" \
  -smp "$cpus,sockets=1,cores=$cpus,threads=1" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$log_dir/console.log" \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev local,id=l1share,path="$share",security_model=none \
  -device virtio-9p-pci,fsdev=l1share,mount_tag=l1share \
  -kernel "$l1_kernel" -initrd "$l1_initrd" -append "$cmdline" &
qemu_pid=$!
if [ "$quiet" -eq 0 ]; then
  tail -n +1 -f "$share/out.log" --pid="$qemu_pid" &
  tail_pid=$!
fi

# L1 itself can wedge: every CPU in RCU stalls and soft lockups, never to recover (seen twice in
# ~40 L1 hours of tests, at random points, with QEMU 7.2's multi-threaded TCG). Its console
# says so; then it is killed at once and this script exits 75, so a caller can boot a new L1
# and go on, instead of waiting out the whole timeout.
deadline=$(( $(date +%s) + timeout_s ))
timed_out=0 wedged=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then timed_out=1; break; fi
  # (rcu_preempt: the x86 kernel's preemptible RCU; rcu_sched: the arm64 kernel's.)
  if grep -qE 'soft lockup - CPU#|rcu_(preempt|sched) self-detected stall' "$log_dir/console.log" 2>/dev/null; then
    wedged=1; break
  fi
  # ... or silently (QEMU spinning, L1's clock stopped): its stage 2 writes /run/l1/alive every
  # 5 s; none for 120 s (or none at all 400 s after the boot began) is a wedged L1.
  now=$(date +%s)
  if [ -f "$share/alive" ]; then
    [ $((now - $(stat -c %Y "$share/alive"))) -gt 120 ] && { wedged=1; break; }
  elif [ $((now - ${t0%.*})) -gt 400 ]; then
    wedged=1; break
  fi
  sleep 1
done
if [ "$timed_out" -eq 1 ] || [ "$wedged" -eq 1 ]; then
  kill "$qemu_pid" 2>/dev/null; sleep 1; kill -9 "$qemu_pid" 2>/dev/null || true
fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
[ -n "$tail_pid" ] && { wait "$tail_pid" 2>/dev/null || true; tail_pid=""; }
secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")

if [ "$timed_out" -eq 1 ]; then
  echo "l1: timed out after $timeout_s s; L1 console: $log_dir/console.log" >&2
  exit 124
fi
if [ "$wedged" -eq 1 ]; then
  cp "$log_dir/console.log" "$log_dir/console-wedged-$(date +%s).log" 2>/dev/null || true
  echo "l1: L1's kernel wedged after $secs s (soft lockup / RCU stall on its console: $log_dir/console.log); killed" >&2
  exit 75
fi
if [ ! -s "$share/exit" ]; then
  echo "l1: L1 ended without finishing the command after $secs s; last console lines ($log_dir/console.log):" >&2
  tail -n 25 "$log_dir/console.log" >&2 || true
  exit 125
fi
status=$(cat "$share/exit")
echo "l1: command exited $status after $secs s in L1 (logs: $log_dir)" >&2
exit "$status"
