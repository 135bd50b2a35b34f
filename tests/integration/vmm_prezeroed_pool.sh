#!/usr/bin/env bash
# The pre-zeroed hugepage pool (`qt-vmm allocator --prezero`, vmm/host/zeroed_pool.h) on real KVM
# with probe guests (probe.mode=memfill): an enclave that wrote a pattern over all its RAM leaves
# nothing of it to the next enclave that gets the same chunk, whether its monitor scrubbed the
# chunk (a normal stop) or the allocator did (monitor killed: the chunk stays dirty); an enclave
# started while a chunk is dirty gets fresh pages, never that chunk, and its start does not scrub.
# A private pool (QT_VMM_POOL_DIR) and run dir; one 128 MiB chunk of 2 MiB pages.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
VMM_RESERVE_MIB=128 vmm_setup

export QT_VMM_POOL_DIR="$TEST_TMP/pool"
pool_cleanup() {
  vmm_cleanup_enclaves
  "$QT_VMM" allocator --mem 1024 --hugepage-size 2M --numa-node 0 --prezero --release >/dev/null 2>&1 || true
  umount "$QT_VMM_POOL_DIR/2M" 2>/dev/null || true
  vmm_cleanup
}
vmm_cleanup_enclaves() {
  for s in "$QT_VMM_RUN_DIR"/*.sock; do
    [ -e "$s" ] || continue
    "$QT_VMM" enclave stop --enclave-id "$(basename "$s" .sock)" >/dev/null 2>&1 || true
  done
}
trap pool_cleanup EXIT

prezeroed() { "$QT_VMM" allocator --show | jq -r "[.[] | select(.NumaNode == 0 and .HugepageSize == \"2M\")][0].Prezeroed.$1"; }
# Starts a memfill probe (probe.fill=$1) on 128 MiB of 2 MiB pages; prints start's JSON.
start_fill() {
  "$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/$1.eif" --cpus 1 --allow-shared-cpus --mem 128 \
    --hugepage-size 2M --numa-node 0 --debug-mode
}
# Waits for the probe's `PROBE fill=...` line ($2: written or checked) on enclave $1's console; prints it.
fill_result() {
  local id=$1 what=$2 i line
  for ((i = 0; i < 600; i++)); do
    line=$("$QT_VMM" enclave console --enclave-id "$id" --no-follow 2>/dev/null | grep -E "^PROBE fill=$what" || true)
    if [ -n "$line" ]; then
      "$QT_VMM" enclave console --enclave-id "$id" --no-follow | grep '^PROBE fill'
      return 0
    fi
    sleep 0.2
  done
  "$QT_VMM" enclave console --enclave-id "$id" --no-follow >&2
  fail "enclave $id printed no 'PROBE fill=$what' within 120 s"
}
found_of() { sed -n 's/^PROBE fill=checked .*found=\([0-9]*\).*/\1/p' <<<"$1"; }
# A checking enclave named $1 must get chunk $chunk and find none of the previous pattern.
expect_clean_chunk() {
  local who=$1 out id res
  out=$(start_fill check)
  id=$(jq -r .EnclaveID <<<"$out")
  [ "$(jq -r '.PoolChunks[0]' <<<"$out")" = "$chunk" ] || fail "$who should get chunk $chunk: $out"
  res=$(fill_result "$id" checked)
  echo "$res"
  [ "$(found_of "$res")" = 0 ] || fail "$who read the previous enclave's pattern: $res"
  "$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
}
# Waits until the pool's one chunk is ready again; $1 says who should have returned it.
expect_chunk_ready() {
  local i
  for ((i = 0; i < 300; i++)); do [ "$(prezeroed ReadyMiB)" = 128 ] && return 0; sleep 0.1; done
  fail "$1 did not scrub and return the chunk to ready"
}

for mode in write check selftest; do
  probe_eif "$TEST_TMP/$mode.eif" "probe.mode=memfill probe.fill=$mode"
done
probe_eif "$TEST_TMP/write-hlt.eif" "probe.mode=memfill probe.fill=write probe.fill_end=hlt"

echo "== the probe's check sees a pattern that is there (selftest: write, then check, in one boot)"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/selftest.eif" --cpus 1 --allow-shared-cpus --mem 128 --hugepage-size 2M --numa-node 0 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
[ "$(jq -r .MemorySource <<<"$out")" = fresh ] || fail "no pool yet, MemorySource should be fresh: $out"
res=$(fill_result "$id" checked)
echo "$res"
[ "$(found_of "$res")" -gt 100000 ] || fail "the check found too few of the words this guest wrote: $res"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null

echo "== allocator --prezero: one ready chunk"
"$QT_VMM" allocator --mem 128 --hugepage-size 2M --numa-node 0 --prezero | tee "$TEST_TMP/prezero.json"
[ "$(jq -r .ChunksAdded "$TEST_TMP/prezero.json")" = 1 ] || fail "one chunk should have been added"
[ "$(prezeroed ReadyMiB)" = 128 ] || fail "allocator --show should list 128 MiB ready"
[ "$(stat -c %a "$QT_VMM_POOL_DIR")" = 700 ] || fail "the pool directory must be root-only"

echo "== enclave A writes its pattern over pool memory (and stays); its monitor and daemon are killed"
out=$(start_fill write-hlt)
id_a=$(jq -r .EnclaveID <<<"$out")
pid_a=$(jq -r .ProcessID <<<"$out")
[ "$(jq -r .MemorySource <<<"$out")" = prezeroed-pool ] || fail "A should have pool memory: $out"
chunk=$(jq -r '.PoolChunks[0]' <<<"$out")
[ -n "$chunk" ] && [ "$chunk" != null ] || fail "start should name the chunk: $out"
[ "$(enclave_field "$id_a" MemorySource)" = prezeroed-pool ] || fail "query should say prezeroed-pool"
fill_result "$id_a" written
[ "$(prezeroed InUseMiB)" = 128 ] || fail "A's chunk should be in use"
monitor_a=$(ps -o ppid= -p "$pid_a" | tr -d ' ')
kill -KILL "$monitor_a" "$pid_a"
for ((i = 0; i < 100; i++)); do kill -0 "$pid_a" 2>/dev/null || break; sleep 0.1; done
[ "$(prezeroed DirtyMiB)" = 128 ] || fail "A's chunk should be dirty once its owners are gone"

echo "== enclave B, started while A's chunk is dirty: fresh pages, nothing of A's, no scrub on its launch"
out=$(start_fill check)
id_b=$(jq -r .EnclaveID <<<"$out")
[ "$(jq -r .MemorySource <<<"$out")" = fresh ] || fail "B must not get a dirty chunk: $out"
[ "$(prezeroed DirtyMiB)" = 128 ] || fail "B's start must not have scrubbed A's chunk (it is not on the launch path)"
res=$(fill_result "$id_b" checked)
echo "$res"
[ "$(found_of "$res")" = 0 ] || fail "B read A's pattern: $res"
"$QT_VMM" enclave stop --enclave-id "$id_b" >/dev/null

echo "== the allocator scrubs what the killed monitor left; C gets A's chunk and finds nothing of A's"
"$QT_VMM" allocator --mem 128 --hugepage-size 2M --numa-node 0 --prezero | tee "$TEST_TMP/scrub.json"
[ "$(jq -r .ChunksScrubbed "$TEST_TMP/scrub.json")" = 1 ] || fail "the dirty chunk should have been scrubbed"
[ "$(jq -r .ChunksAdded "$TEST_TMP/scrub.json")" = 0 ] || fail "the scrubbed chunk covers 128 MiB: nothing to add"
expect_clean_chunk C

echo "== the guest ends (power off): its monitor scrubs once the daemon is gone; D gets the chunk, finds nothing"
expect_chunk_ready "C's monitor"
out=$(start_fill write)
id_w=$(jq -r .EnclaveID <<<"$out")
[ "$(jq -r '.PoolChunks[0]' <<<"$out")" = "$chunk" ] || fail "the writer should get chunk $chunk: $out"
fill_result "$id_w" written
wait_terminated "$id_w" 60
expect_chunk_ready "the writer's monitor (after the enclave ended)"
expect_clean_chunk D

