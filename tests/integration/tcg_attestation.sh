#!/usr/bin/env bash
# timeout: 1200
# Attestation end to end (issue 15): tests/apps/app_nsm.c uses /dev/nsm as libnsm does and sends
# its document, PCR0 and PCR16 to the parent over vsock (tests/tools/nsm_records.py receives
# them and holds the connection, so the enclave is still running while query is checked).
# Under --accel tcg the NSM device is QEMU's vhost-user-device served by qt-vmm; run by
# tests/integration/kvm_e2e.sh with E2E_ACCEL=kvm (as tcg_attestation@kvm, in the nested L1
# where this host's KVM cannot run guest user mode) it is qt-vmm's virtio-mmio NsmDevice, so
# this one test covers both paths. Checked:
#   - debug mode, user_data / nonce / public_key of 1,024 bytes each: every NSM call of the app
#     as expected (DescribeNSM, DescribePCR, ExtendPCR, LockPCR, ReadOnlyIndex after the lock,
#     LockPCRs, GetRandom, Attestation); the document verifies with `qt-vmm attestation verify`
#     and with the independent tests/tools/verify_attestation.py (python3-cbor2 and
#     python3-cryptography) against `qt-vmm attestation root-cert`, with the nonce, PCR16 =
#     SHA384(48 zero bytes ‖ "qt-vmm app_nsm") and PCR0 all zeros (in the document and from
#     DescribePCR); user_data and public_key
#     come back intact; query shows PCR16 with that value, locked;
#   - the same document with one byte flipped, against a foreign root, and at a time two years
#     ahead (past the leaf's lifetime) is rejected by both verifiers;
#   - production mode (no console; the records are all we get), a 20-byte nonce and no
#     user_data / public_key: PCR0 in the document and from DescribePCR equals describe-eif's.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
source "$TOP/tests/tcg_lib.sh"
tcg_setup
[ -x "$BUILD/guest/app_nsm" ] || fail "missing $BUILD/guest/app_nsm; run make"
# Under tcg the NSM reaches the guest only through QEMU's vhost-user-device, which Debian's QEMU
# builds not user-creatable (README, Attestation): then the enclave has no /dev/nsm, and this
# test proves the device where it exists (tcg_attestation@kvm, in the nested L1's real KVM).
if [ "$E2E_ACCEL" = tcg ] && ! "${QT_VMM_QEMU:-qemu-system-x86_64}" -device help 2>/dev/null | grep '"vhost-user-device"' >/dev/null; then
  skip "$(${QT_VMM_QEMU:-qemu-system-x86_64} -version | head -n1) cannot create -device vhost-user-device, so --accel tcg enclaves have no /dev/nsm here; the KVM path runs this test as tcg_attestation@kvm"
fi
# The verifiers and the module come from the other parts of issue 15: until they are merged this
# test cannot run (a clear skip rather than a failure in a part this branch does not hold).
"$QT_VMM" attestation root-cert >"$TEST_TMP/root.pem" 2>"$TEST_TMP/root-cert.err" \
  || skip "qt-vmm attestation root-cert failed: $(head -c 300 "$TEST_TMP/root-cert.err")"
[ -f "$TOP/tests/tools/verify_attestation.py" ] || skip "tests/tools/verify_attestation.py is missing"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # Debian's, with python3-cbor2 and python3-cryptography
"$PY" -c 'import cbor2, cryptography' 2>/dev/null || skip "python3-cbor2 or python3-cryptography missing (install-deps)"
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }
# Byte i of user_data, nonce, public_key is (i + 1), (i + 2), (i + 3) mod 256 (app_nsm.c).
field_hex() { "$PY" -c "import sys; print(bytes((i + $2) & 255 for i in range($1)).hex())"; }
payload() { jq -c 'if type == "array" then .[0] else . end' "$1"; }

# run_app NAME SIZES START_OPTIONS...: starts the image, receives the records into
# $TEST_TMP/NAME/, checks the app's own verdict. Leaves the enclave running (ID) and the
# receiver holding its connection (RECV_PID) until release.
run_app() {
  local name=$1 sizes=$2; shift 2
  local out="$TEST_TMP/$name" i
  mkdir -p "$out"
  "$@"
  "$PY" "$TOP/tests/tools/nsm_records.py" --socket "$VSOCK" --port 7100 --out "$out" --timeout 300 >"$out/recv.log" 2>&1 &
  RECV_PID=$!
  for ((i = 0; i < 3000; i++)); do
    [ -e "$out/received" ] && break
    kill -0 "$RECV_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$out/recv.log"
  [ -e "$out/received" ] || fail "$name: no records from the app ($(cat "$out/recv.log"); enclave: $(field "$ID" State) $(field "$ID" AppStatus))"
  echo "$name: document $(stat -c %s "$out/document.cbor") bytes (fields $sizes)"
}

release() {
  touch "$TEST_TMP/$1/release"
  wait "$RECV_PID" || fail "$1: the record receiver failed"
  wait_terminated "$ID" 120
  expect_eq "$(field "$ID" AppStatus.Kind)" exited "$1: AppStatus.Kind"
  expect_eq "$(field "$ID" AppStatus.ExitCode)" 0 "$1: app_nsm's exit status (0: every NSM expectation held)"
}

# Both verifiers; $1 = expected outcome (ok or reject), $2 = what, then the common options.
verify_both() {
  local want=$1 what=$2 doc=$3 root=$4; shift 4
  local rc_q=0 rc_p=0
  "$QT_VMM" attestation verify --doc "$doc" --root-cert "$root" "$@" >"$TEST_TMP/verify.json" 2>"$TEST_TMP/verify.err" || rc_q=$?
  "$PY" "$TOP/tests/tools/verify_attestation.py" --doc "$doc" --root "$root" "$@" >"$TEST_TMP/verify.py.json" 2>"$TEST_TMP/verify.py.err" || rc_p=$?
  echo "$what: qt-vmm exit $rc_q $(head -c 200 "$TEST_TMP/verify.err"); verify_attestation.py exit $rc_p $(head -c 200 "$TEST_TMP/verify.py.err")"
  if [ "$want" = ok ]; then
    expect_eq "$rc_q" 0 "$what: qt-vmm attestation verify"
    expect_eq "$rc_p" 0 "$what: verify_attestation.py"
  else
    [ "$rc_q" -ne 0 ] || fail "$what: qt-vmm attestation verify accepted it"
    [ "$rc_p" -ne 0 ] || fail "$what: verify_attestation.py accepted it"
  fi
}

zeros48=$(printf '0%.0s' $(seq 96))
pcr16_want=$("$PY" -c 'import hashlib; print(hashlib.sha384(bytes(48) + b"qt-vmm app_nsm").hexdigest())')

# ---- debug mode, 1,024 bytes in each field ----
tcg_image att '{"Entrypoint":["app_nsm"],"Cmd":["7100","1024","1024","1024"],"Env":["PATH=/bin"]}' app_nsm
run_app debug "1024/1024/1024" tcg_start "$TEST_TMP/att.eif"
d="$TEST_TMP/debug"
expect_eq "$(hex "$d/pcr16.bin")" "$pcr16_want" "PCR16 from DescribePCR after ExtendPCR"
expect_eq "$(hex "$d/pcr0.bin")" "$zeros48" "PCR0 from DescribePCR in debug mode"
# query's PCRs: {"Index", "Value", "Locked"} for all 32, under Attestation (or at the top level).
pcr16_query=$("$QT_VMM" enclave query --enclave-id "$ID" | jq -c '.[0] | (.Attestation.PCRs // .PCRs)[]? | select(.Index == 16)')
echo "query PCR16: $pcr16_query"
expect_eq "$(jq -r .Value <<<"$pcr16_query")" "$pcr16_want" "query PCRs[16].Value"
expect_eq "$(jq -r .Locked <<<"$pcr16_query")" true "query PCRs[16].Locked"
nonce=$(field_hex 1024 2)
verify_both ok "debug document" "$d/document.cbor" "$TEST_TMP/root.pem" --nonce "$nonce" --pcr "16=$pcr16_want" --pcr "0=$zeros48"
p=$(payload "$TEST_TMP/verify.json")
expect_eq "$(jq -r .user_data <<<"$p")" "$(field_hex 1024 1)" "user_data in the document"
expect_eq "$(jq -r .public_key <<<"$p")" "$(field_hex 1024 3)" "public_key in the document"
expect_eq "$(jq -r '.pcrs["0"]' <<<"$p")" "$zeros48" "PCR0 in a debug-mode document"
expect_eq "$(jq -r '.pcrs["16"]' <<<"$p")" "$pcr16_want" "PCR16 in the document"
expect_eq "$(jq -r '.pcrs["16"]' <<<"$(payload "$TEST_TMP/verify.py.json")")" "$pcr16_want" "PCR16 seen by verify_attestation.py"
console "$ID" | grep -E '^NSM ' || true
release debug
out=$(console "$ID")
for line in "NSM DescribeNSM module_id=" "NSM DescribePCR 0 lock=true" "NSM DescribePCR 16 lock=false" "NSM LockPCR 16 ok" \
  "NSM ExtendPCR 16 (locked): Error ReadOnlyIndex" "NSM DescribePCR 16 lock=true data=$pcr16_want" "NSM LockPCRs 20 ok" \
  "NSM GetRandom bytes=" "NSM Attestation document=" "NSM done failures=0"; do
  expect_contains "$out" "$line" console
done

# ---- rejected: tampered, foreign root, expired ----
cp "$d/document.cbor" "$TEST_TMP/tampered.cbor"
"$PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 3] ^= 1; open(sys.argv[1], "wb").write(b)' "$TEST_TMP/tampered.cbor"
verify_both reject "a flipped byte" "$TEST_TMP/tampered.cbor" "$TEST_TMP/root.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -subj "/CN=foreign root" -days 30 \
  -keyout "$TEST_TMP/foreign.key" -out "$TEST_TMP/foreign.pem" 2>/dev/null || fail "openssl could not make a foreign root"
verify_both reject "a foreign root" "$d/document.cbor" "$TEST_TMP/foreign.pem"
verify_both reject "two years ahead" "$d/document.cbor" "$TEST_TMP/root.pem" --at $(( $(date +%s) + 2 * 366 * 86400 ))

# ---- production mode: the image's PCR0, a 20-byte nonce, no user_data or public_key ----
tcg_image prod '{"Entrypoint":["app_nsm"],"Cmd":["7100","0","20","0"],"Env":["PATH=/bin"]}' app_nsm
pcr0_want=$(jq -r .PCR0 "$TEST_TMP/prod.pcrs.json")
[ "$(jq -r .Measurements.PCR0 <("$QT_VMM" enclave describe-eif --eif "$TEST_TMP/prod.eif"))" = "$pcr0_want" ] || fail "make-img and describe-eif disagree on PCR0"
start_production() {
  START_JSON=$("$QT_VMM" enclave start --accel "$E2E_ACCEL" "${E2E_START_OPTS[@]}" --eif "$TEST_TMP/prod.eif" --cpus "$E2E_CPUS" \
    --mem "$E2E_MEM" --heartbeat-timeout "${E2E_HEARTBEAT_TIMEOUT:-60}") || fail "production start failed"
  ID=$(jq -r .EnclaveID <<<"$START_JSON")
  VSOCK=$(jq -r .VsockSocket <<<"$START_JSON")
  expect_eq "$(jq -r .LaunchMode <<<"$START_JSON")" production LaunchMode
}
run_app prod "0/20/0" start_production
d="$TEST_TMP/prod"
expect_eq "$(hex "$d/pcr0.bin")" "$pcr0_want" "PCR0 from DescribePCR in production mode (describe-eif's)"
verify_both ok "production document" "$d/document.cbor" "$TEST_TMP/root.pem" --nonce "$(field_hex 20 2)" --pcr "0=$pcr0_want" --pcr "16=$pcr16_want"
p=$(payload "$TEST_TMP/verify.json")
expect_eq "$(jq -r '.pcrs["0"]' <<<"$p")" "$pcr0_want" "PCR0 in a production document"
for k in user_data public_key; do
  v=$(jq -r ".$k // \"\"" <<<"$p")
  [ -z "$v" ] || fail "$k should be absent (null) in the production document: $v"
done
release prod
echo PASS
