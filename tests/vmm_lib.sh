# tests/vmm_lib.sh — helpers for the VMM lifecycle tests (tests/integration/vmm_*.sh), sourced
# after tests/lib.sh. They run real enclaves under KVM with the probe guest
# (tests/guests/probe, see its README) packaged in real EIFs.
#
#   vmm_setup                      needs KVM and root; private run dir; 2 MiB pages reserved
#   probe_eif OUT "cmdline" [ramdisk...]   an EIF whose kernel is the probe guest
#   wait_terminated ID [seconds]   until query shows the enclave TERMINATED
#   enclave_field ID FIELD         a field of query's JSON for that enclave

vmm_setup() {
  need_kvm
  need_root
  export QT_VMM_RUN_DIR="$TEST_TMP/run"
  mkdir -p "$QT_VMM_RUN_DIR"
  # Reserve what the tests need and give it back at the end, whatever happens.
  local pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  VMM_ORIGINAL_2M=$(cat "$pool")
  trap 'vmm_cleanup' EXIT
  "$QT_VMM" allocator --mem "${VMM_RESERVE_MIB:-512}" --hugepage-size 2M >/dev/null
}

vmm_cleanup() {
  # Stop whatever the test left running, then restore the pool.
  if [ -d "${QT_VMM_RUN_DIR:-/nonexistent}" ]; then
    for s in "$QT_VMM_RUN_DIR"/*.sock; do
      [ -e "$s" ] || continue
      "$QT_VMM" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null 2>&1 || true
    done
  fi
  echo "$VMM_ORIGINAL_2M" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null || true
}

probe_eif() {
  local out=$1 cmdline=$2; shift 2
  local ramdisk="$TEST_TMP/probe-ramdisk.bin"
  if [ $# -eq 0 ]; then
    [ -f "$ramdisk" ] || head -c 65536 /dev/urandom > "$ramdisk"
    set -- "$ramdisk"
  fi
  "$BUILD/bin/eif-testdata" "$out" "$BUILD/guest/probe.bzImage" "$cmdline" "$@" >/dev/null
}

enclave_json() { "$QT_VMM" enclave query --enclave-id "$1"; }
enclave_field() { "$QT_VMM" enclave query --enclave-id "$1" | jq -r ".[0].$2"; }

wait_terminated() {
  local id=$1 limit=${2:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    [ "$(enclave_field "$id" State)" = TERMINATED ] && return 0
    sleep 0.1
  done
  enclave_json "$id" >&2
  fail "enclave $id did not end within $limit s"
}

# Pages nobody holds: free minus reserved (an enclave's pages are reserved at start and only
# become "used" as the guest touches them).
free_2m() {
  local d=/sys/kernel/mm/hugepages/hugepages-2048kB
  echo $(( $(cat $d/free_hugepages) - $(cat $d/resv_hugepages) ))
}
