#!/usr/bin/env bash
# The run directory (QT_VMM_RUN_DIR) while qt-vmm runs as root. A symlink, a directory another
# user owns, one writable by others, group-writable without the sticky bit, or one inside a
# directory another user controls is refused (RUN_DIR_UNSAFE, exit 9) with the path and the fix;
# 0755 and 1770 are taken. In a group-writable sticky run directory (1770 root:<group>) a member
# of the group plants a symlink as the next daemon's log, one as .lock and a host-quirks.json
# that says the opposite of what this host needs; one more host-quirks.json, owned by that user,
# sits in the state directory. root starts an enclave: nothing outside the run directory is
# created or truncated, and the guest gets the workarounds the probe says this host needs.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup
chmod 0755 "$TEST_TMP"   # the other user must reach the run directory below
export QT_VMM_STATE_DIR="$TEST_TMP/state"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# expect_unsafe DIR PROBLEM [FIX]: query as root refuses DIR with one line naming it and the fix.
expect_unsafe() {
  local status=0 out
  out=$(QT_VMM_RUN_DIR="$1" "$QT_VMM" enclave query 2>&1) || status=$?
  echo "$out"
  [ "$status" = 9 ] || fail "run dir $1 ($2): expected exit 9, got $status: $out"
  expect_contains "$out" "[RUN_DIR_UNSAFE]: $1 $2"
  expect_contains "$out" "${3:-chown root $1 && chmod 0755 $1}"
  [ "$(wc -l <<<"$out")" = 1 ] || fail "one line expected"
}
expect_taken() { QT_VMM_RUN_DIR="$1" "$QT_VMM" enclave query >/dev/null || fail "run dir $1 (mode $(stat -c %a "$1")) refused"; }

mkdir "$TEST_TMP/real"; ln -s "$TEST_TMP/real" "$TEST_TMP/link"
expect_unsafe "$TEST_TMP/link" "is a symbolic link"
mkdir "$TEST_TMP/theirs"; chown 65534:65534 "$TEST_TMP/theirs"
expect_unsafe "$TEST_TMP/theirs" "is owned by uid 65534, not root"
mkdir "$TEST_TMP/modes"
for mode in 0777 1777 0775 0757; do
  chmod "$mode" "$TEST_TMP/modes"
  expect_unsafe "$TEST_TMP/modes" "has mode $mode"
done
for mode in 0755 1770 1775 0700; do
  chmod "$mode" "$TEST_TMP/modes"; expect_taken "$TEST_TMP/modes"
done
mkdir -p "$TEST_TMP/their-parent/run"; chown 65534 "$TEST_TMP/their-parent"
expect_unsafe "$TEST_TMP/their-parent/run" "lies in $TEST_TMP/their-parent, which someone other than root can change" \
  "chown root $TEST_TMP/their-parent && chmod go-w $TEST_TMP/their-parent"

# The plants, by a member of the run directory's group (here nobody's own group, 65534).
run=$QT_VMM_RUN_DIR
chgrp 65534 "$run"; chmod 1770 "$run"
echo precious > "$TEST_TMP/victim-log"
as_nobody ln -s "$TEST_TMP/victim-log" "$run/0.log"
as_nobody ln -s "$TEST_TMP/victim-lock" "$run/.lock"
# What this host really needs (the probe, uncached), and a cache claiming the opposite.
verdict=$("$QT_VMM" host-check --query "[?Check=='guest-user-mode'].Verdict | [0]" -o tsv)
if [ "$verdict" = ok ]; then lie='"NestedKvm": true, "UserMode": "broken"'; else lie='"NestedKvm": false, "UserMode": "ok"'; fi
plant="{\"BootID\": \"$(cat /proc/sys/kernel/random/boot_id)\", $lie, \"Detail\": \"PLANTED\", \"ProbeMs\": 1}"
as_nobody sh -c "echo '$plant' > '$run/host-quirks.json'"
mkdir -m 0755 "$QT_VMM_STATE_DIR"
echo "$plant" > "$QT_VMM_STATE_DIR/host-quirks.json"; chown 65534 "$QT_VMM_STATE_DIR/host-quirks.json"
ls -la "$run" "$QT_VMM_STATE_DIR"

probe_eif "$TEST_TMP/p.eif" "probe.mode=report"
out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/p.eif" --cpus 1 --allow-shared-cpus --mem 128 \
  --debug-mode --hugepage-size 2M)
id=$(jq -r .EnclaveID <<<"$out")
expect_eq "$id" 0 "EnclaveID"
wait_terminated "$id" 60
console=$("$QT_VMM" enclave console --enclave-id "$id" --no-follow 2>/dev/null)
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null

expect_eq "$(cat "$TEST_TMP/victim-log")" precious "the file the planted log symlink names"
[ ! -e "$TEST_TMP/victim-lock" ] || fail "root created $TEST_TMP/victim-lock through the planted .lock symlink"
cmdline=$(grep '^PROBE cmdline=' <<<"$console")
echo "$cmdline"
if [ "$verdict" = ok ]; then
  expect_not_contains "$cmdline" noxsave "a host that runs user mode gets no workarounds (the planted cache said otherwise)"
else
  expect_contains "$cmdline" noxsave "this host needs the nested-KVM workarounds (the planted cache said otherwise)"
fi
# The cache root now writes is root's, in the state directory.
expect_eq "$(stat -c %u "$QT_VMM_STATE_DIR/host-quirks.json")" 0 "owner of the new cache"
expect_not_contains "$(cat "$QT_VMM_STATE_DIR/host-quirks.json")" PLANTED "the new cache"
echo PASS
