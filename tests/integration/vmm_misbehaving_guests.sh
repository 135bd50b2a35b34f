#!/usr/bin/env bash
# Guests that misbehave on purpose cannot hurt the VMM: unknown ports and MMIO (including far
# outside RAM) read as all ones, a triple fault ends only that enclave, with its reason recorded.
source "$TOP/tests/lib.sh"
source "$TOP/tests/vmm_lib.sh"
vmm_setup

probe_eif "$TEST_TMP/badio.eif" "probe.mode=badio"
probe_eif "$TEST_TMP/triple.eif" "probe.mode=triple"

out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/badio.eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
wait_terminated "$id" 60
[ "$(enclave_field "$id" Reason)" = guest-reset ] || fail "badio probe should end by its own power-off"
console=$("$QT_VMM" enclave console --enclave-id "$id")
echo "$console"
expect_contains "$console" "PROBE survived"
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null

out=$("$QT_VMM" enclave start --heartbeat-timeout 0 --eif "$TEST_TMP/triple.eif" --cpus 1 --allow-shared-cpus --mem 128 --debug-mode)
id=$(jq -r .EnclaveID <<<"$out")
wait_terminated "$id" 60
reason=$(enclave_field "$id" Reason)
detail=$(enclave_field "$id" Detail)
echo "reason=$reason detail=$detail"
# A real CPU reports a triple fault as KVM_EXIT_SHUTDOWN; this host's emulator may fail first.
case "$reason" in
  triple-fault|vcpu-error) ;;
  *) fail "triple fault should end the enclave with triple-fault (or vcpu-error here), got $reason" ;;
esac
"$QT_VMM" enclave stop --enclave-id "$id" >/dev/null
