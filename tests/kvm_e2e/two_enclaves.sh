#!/usr/bin/env bash
# Two enclaves at once on the KVM path, each with 2 vCPUs on whole cores of their own (no
# --allow-shared-cpus): distinct IDs, CIDs and CPUs, none on CPU 0; both answer a vsock echo at
# the same time; a third is refused (ENCLAVE_LIMIT, exit 6) before anything is allocated; once
# one is stopped, a new one starts on the CPUs it freed.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
kvm_e2e_setup 2

tcg_image echo '{"Entrypoint":["app_vsock"],"Cmd":["echo:5000"],"Env":["PATH=/bin"]}' app_vsock
tcg_start "$TEST_TMP/echo.eif"; a=$ID; a_sock=$VSOCK; a_json=$START_JSON
tcg_start "$TEST_TMP/echo.eif"; b=$ID; b_sock=$VSOCK; b_json=$START_JSON
[ "$a" != "$b" ] || fail "same EnclaveID"
[ "$(jq .EnclaveCID <<<"$a_json")" != "$(jq .EnclaveCID <<<"$b_json")" ] || fail "same CID"
both=$(jq -s '[.[].CPUIDs[]]' <(echo "$a_json") <(echo "$b_json"))
echo "CPUIDs: A $(jq -c .CPUIDs <<<"$a_json"), B $(jq -c .CPUIDs <<<"$b_json")"
[ "$(jq 'length' <<<"$both")" = 4 ] && [ "$(jq 'unique | length' <<<"$both")" = 4 ] || fail "the two enclaves share CPUs: $both"
jq -e 'index(0) == null' <<<"$both" >/dev/null || fail "an enclave vCPU is on CPU 0: $both"
for j in "$a_json" "$b_json"; do expect_eq "$(jq -r .CPUIsolation <<<"$j")" isolated CPUIsolation; done

wait_console "$a" "VSOCK ready" 60
wait_console "$b" "VSOCK ready" 60
"$PEER" echo --socket "$a_sock" --port 5000 --conns 8 --bytes 65536 --timeout 60 > "$TEST_TMP/a.out" 2>&1 &
pa=$!
"$PEER" echo --socket "$b_sock" --port 5000 --conns 8 --bytes 65536 --timeout 60 > "$TEST_TMP/b.out" 2>&1 &
pb=$!
ra=0; wait "$pa" || ra=$?
rb=0; wait "$pb" || rb=$?
cat "$TEST_TMP/a.out" "$TEST_TMP/b.out" | grep -E "^PEER" | tail -n 4
expect_eq "$ra" 0 "echo through enclave A"
expect_eq "$rb" 0 "echo through enclave B"

rc=0
err=$("$QT_VMM" enclave start --eif "$TEST_TMP/echo.eif" --cpus 2 --mem 256 --debug-mode 2>&1 >/dev/null) || rc=$?
echo "third start: exit $rc: $err"
expect_eq "$rc" 6 "exit status of a third enclave"
expect_contains "$err" ENCLAVE_LIMIT
expect_eq "$("$QT_VMM" enclave query | jq length)" 2 "enclaves listed after the refusal"

a_cpus=$(jq -c '.CPUIDs | sort' <<<"$a_json")
"$QT_VMM" enclave stop --enclave-id "$a" >/dev/null
tcg_start "$TEST_TMP/echo.eif"
expect_eq "$(jq -c '.CPUIDs | sort' <<<"$START_JSON")" "$a_cpus" "the new enclave's CPUs (those the stopped one freed)"
wait_console "$ID" "VSOCK ready" 60
"$PEER" echo --socket "$VSOCK" --port 5000 --conns 2 --bytes 4096 --timeout 60 | grep "^PEER" | tail -n1
echo PASS
