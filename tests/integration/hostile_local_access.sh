#!/usr/bin/env bash
# The access model (README "Access model"): root and members of group qt-vmm reach enclaves,
# nobody else does. A KVM probe enclave started by root; then, as the unprivileged user nobody:
# no query, no connect to the control socket or the vsock socket, no start; as nobody with
# qt-vmm as a supplementary group: query works, stop of root's enclave is refused (owner rule),
# a listener for enclave->parent connections may be created but root's files not removed; a
# member's own (--accel tcg) enclave is stopped by that member, not by another member or nobody.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
vmm_setup
getent group qt-vmm >/dev/null || fail "group qt-vmm missing; create it with: sudo scripts/install-deps.sh"
gid=$(getent group qt-vmm | cut -d: -f3)

# qt-vmm creates the run directory itself; the path to it must be traversable by anyone, so that
# only the run directory's and the sockets' own modes keep others out.
rmdir "$QT_VMM_RUN_DIR"
chmod 0755 "$TEST_TMP"
cp "$QT_VMM" "$TEST_TMP/qt-vmm" && chmod 0755 "$TEST_TMP/qt-vmm"
probe_eif "$TEST_TMP/hlt.eif" "probe.mode=hlt"
chmod 0644 "$TEST_TMP/hlt.eif"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_member() { setpriv --reuid=65534 --regid=65534 --groups="$gid" "$@"; }
# can_connect PATH: exit 0 if a Unix stream connect to PATH succeeds.
can_connect() { /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1" 2>/dev/null; }

out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128)
id=$(jq -r .EnclaveID <<<"$out")
sock="$QT_VMM_RUN_DIR/$id.sock"
vsock="$QT_VMM_RUN_DIR/$id.vsock"

echo "== modes: run dir root:qt-vmm 1770, sockets root:qt-vmm 0660"
expect_eq "$(stat -c '%a %U %G' "$QT_VMM_RUN_DIR")" "1770 root qt-vmm" "run directory"
expect_eq "$(stat -c '%a %U %G' "$sock")" "660 root qt-vmm" "control socket"
expect_eq "$(stat -c '%a %U %G' "$vsock")" "660 root qt-vmm" "vsock socket"

echo "== nobody: nothing reaches the enclave"
if as_nobody bash -c "$(declare -f can_connect); can_connect '$sock'"; then fail "nobody connected to the control socket"; fi
if as_nobody bash -c "$(declare -f can_connect); can_connect '$vsock'"; then fail "nobody connected to the vsock socket"; fi
set +e
err=$(as_nobody "$TEST_TMP/qt-vmm" enclave query 2>&1); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "query as nobody must fail (not list nothing)"
expect_contains "$err" "RUN_DIR_ACCESS"
expect_contains "$err" "usermod -aG qt-vmm"
[ "$(wc -l <<<"$err")" = 1 ] || fail "error must be one line"
set +e
err=$(as_nobody "$TEST_TMP/qt-vmm" enclave stop --enclave-id "$id" 2>&1); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "stop as nobody must fail"
set +e
err=$(as_nobody "$TEST_TMP/qt-vmm" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/hlt.eif" --cpus 1 --allow-shared-cpus --mem 128 2>&1); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "start as nobody must fail"
expect_eq "$(enclave_field "$id" State)" RUNNING "state after nobody's attempts"

echo "== a qt-vmm member: query yes, stop of root's enclave no, own listener yes, root's files no"
q=$(as_member "$TEST_TMP/qt-vmm" enclave query)
expect_eq "$(jq -r '.[0].State' <<<"$q")" RUNNING "member's query"
as_member bash -c "$(declare -f can_connect); can_connect '$vsock'" || fail "a member could not connect to the vsock socket"
set +e
err=$(as_member "$TEST_TMP/qt-vmm" enclave stop --enclave-id "$id" 2>&1); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "a member must not stop root's enclave"
expect_contains "$err" "NOT_OWNER"
as_member /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$vsock"_7000 \
  || fail "a member could not create its enclave->parent listener"
if as_member rm -f "$sock" 2>/dev/null; then fail "a member removed root's control socket (sticky bit missing)"; fi
[ -S "$sock" ] || fail "control socket gone"
expect_eq "$(enclave_field "$id" State)" RUNNING "state after the member's attempts"

echo "== a member's own enclave (--accel tcg: no /dev/kvm needed): only that member or root stops it"
need_kernel; need_qemu
tcg_image own '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
chmod 0644 "$TEST_TMP/own.eif"
other_member() { setpriv --reuid=65533 --regid=65533 --groups="$gid" "$@"; }
out=$(as_member "$TEST_TMP/qt-vmm" enclave start --accel tcg --eif "$TEST_TMP/own.eif" --cpus 1 --mem 256 --heartbeat-timeout 60)
own=$(jq -r .EnclaveID <<<"$out")
expect_eq "$(stat -c '%a %G' "$QT_VMM_RUN_DIR/$own.sock")" "660 qt-vmm" "member's control socket"
# A member's daemon stays that member (it is not root), but is filtered all the same.
own_pid=$(jq -r .ProcessID <<<"$out")
for task in /proc/"$own_pid"/task/*; do
  expect_eq "$(awk '$1 == "Seccomp:" {print $2}' "$task/status")" 2 "Seccomp of the member's daemon thread ${task##*/}"
  expect_eq "$(awk '$1 == "NoNewPrivs:" {print $2}' "$task/status")" 1 "NoNewPrivs of the member's daemon thread ${task##*/}"
done
set +e
err=$(other_member "$TEST_TMP/qt-vmm" enclave stop --enclave-id "$own" 2>&1); status=$?
set -e
echo "$err"
[ "$status" -ne 0 ] || fail "another member must not stop a member's enclave"
expect_contains "$err" "NOT_OWNER"
if as_nobody "$TEST_TMP/qt-vmm" enclave stop --enclave-id "$own" >/dev/null 2>&1; then fail "nobody stopped a member's enclave"; fi
as_member "$TEST_TMP/qt-vmm" enclave stop --enclave-id "$own" | grep -x "stop $own success" >/dev/null || fail "the member could not stop its own enclave"

"$QT_VMM" enclave stop --enclave-id "$id" | grep -x "stop $id success" >/dev/null
echo "PASS"
