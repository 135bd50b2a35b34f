#!/usr/bin/env bash
# The whole-enclave end-to-end tests (tests/integration/tcg_*.sh: real kernel, init, apps, vsock)
# again on qt-vmm's own KVM VMM (E2E_ACCEL=kvm), wherever host-check says this KVM can run
# guest user mode. Elsewhere (nested, software-assisted KVM such as the project's build machines,
# where the guest's first system call faults) it is skipped with that reason: there the same
# tests prove the enclave path under --accel tcg, and vmm_vsock_probe / vmm_linux_boot prove
# the KVM device and boot up to init.
source "$TOP/tests/lib.sh"
need_kvm
need_root
verdict=$("$QT_VMM" host-check | jq -r '.[] | select(.Check == "guest-user-mode") | .Verdict')
[ "$verdict" = ok ] || skip "this KVM cannot run guest user mode (host-check guest-user-mode: $verdict); the whole-enclave tests ran under --accel tcg (tcg_*)"
failed=()
for t in "$TOP"/tests/integration/tcg_*.sh; do
  name=$(basename "$t" .sh)
  TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qt-vmm-kvm-$name.XXXXXX")
  if E2E_ACCEL=kvm TEST_TMP="$TEST_TMP" bash "$t" > "$TEST_TMP.log" 2>&1; then
    echo "ok   $name (kvm)"
  else
    echo "FAIL $name (kvm), last lines of $TEST_TMP.log:"
    tail -n 20 "$TEST_TMP.log"
    failed+=("$name")
  fi
  rm -rf "$TEST_TMP"
done
[ "${#failed[@]}" -eq 0 ] || fail "under --accel kvm: ${failed[*]}"
