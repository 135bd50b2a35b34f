#!/usr/bin/env bash
# Whoever can write an EIF must not be able to change it between `enclave start`'s checks (CRC,
# PCRs, signature) and the boot. start is held deterministically between the two: it measures
# the image, then waits for the run directory's lock, which this test holds. Meanwhile the
# ramdisk bytes in the file are overwritten in place (same inode, same size). Once the lock is
# released the enclave boots; the probe guest reports the CRC-32 of the initrd it was given: it
# must be the measured one, as PCR2 in start's answer must be the original image's.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

head -c 65536 /dev/urandom > "$TEST_TMP/rd"
probe_eif "$TEST_TMP/p.eif" "probe.mode=report" "$TEST_TMP/rd"
crc=$(gzip -1 < "$TEST_TMP/rd" | tail -c 8 | od -An -tx4 -N4 | tr -d ' ')
pcr2=$("$QT_VMM" enclave describe-eif --eif "$TEST_TMP/p.eif" | jq -r .Measurements.PCR2)
offset=$(python3 -c 'import sys; print(open(sys.argv[1],"rb").read().find(open(sys.argv[2],"rb").read()))' "$TEST_TMP/p.eif" "$TEST_TMP/rd")
[ "$offset" -gt 0 ] || fail "ramdisk not found in the EIF"

# Hold the lock start takes after its checks.
exec 9>"$QT_VMM_RUN_DIR/.lock"
flock 9
"$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/p.eif" --cpus 1 --allow-shared-cpus --mem 128 \
  --debug-mode --hugepage-size 2M >"$TEST_TMP/start.json" 2>"$TEST_TMP/start.err" 9>&- &
start_pid=$!
# Until start waits for the lock (a blocked flock shows as "->" in /proc/locks): it has measured.
inode=$(stat -c %i "$QT_VMM_RUN_DIR/.lock")
for ((i = 0; i < 600; i++)); do
  grep -qE -- "-> FLOCK .*:$inode " /proc/locks && break
  kill -0 "$start_pid" 2>/dev/null || { cat "$TEST_TMP/start.err"; fail "start ended before waiting for the lock"; }
  sleep 0.1
done
grep -qE -- "-> FLOCK .*:$inode " /proc/locks || fail "start never waited for the run directory's lock"

# The swap: the ramdisk's bytes rewritten in place.
dd if=/dev/zero of="$TEST_TMP/p.eif" bs=1 seek="$offset" count=65536 conv=notrunc status=none
exec 9>&-   # release the lock: start goes on to boot
wait "$start_pid" || { cat "$TEST_TMP/start.err"; fail "start failed"; }
cat "$TEST_TMP/start.json"
id=$(jq -r .EnclaveID "$TEST_TMP/start.json")
expect_eq "$(jq -r .Measurements.PCR2 "$TEST_TMP/start.json")" "$pcr2" "PCR2 in start's answer"
wait_terminated "$id" 60
got=$("$QT_VMM" enclave console --enclave-id "$id" --no-follow 2>/dev/null | sed -n 's/^PROBE initrd_crc32=//p' | tr -d '\r')
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
echo "measured ramdisk crc32 $crc, booted $got"
expect_eq "$got" "$crc" "CRC-32 of the initrd the guest booted (the measured one)"
echo PASS
