#!/usr/bin/env bash
# qt-vmm attestation root-cert | verify, with the host root in a temp state directory: root-cert
# twice gives one root (and the same PEM to an unprivileged user, who cannot reach the key); a
# document signed with the daemon's DocumentSigner (tests/tools/attestation_sign_doc) verifies
# with `qt-vmm attestation verify` AND the independent tests/tools/verify_attestation.py
# (python3-cbor2 + python3-cryptography only); tampered, foreign-root, expired, not-yet-valid,
# wrong-PCR and wrong-nonce documents are rejected by both, qt-vmm with the reason's code. The
# real Nitro sample (vmm/nsm/testdata) verifies with both at its issue time.
source "$TOP/tests/lib.sh"
need_root
command -v jq >/dev/null || fail "jq missing; run scripts/install-deps.sh"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux)"
py=/usr/bin/python3
"$py" -c 'import cbor2, cryptography' 2>/dev/null || fail "python3-cbor2 / python3-cryptography missing; run scripts/install-deps.sh"
sign="$BUILD/bin/attestation_sign_doc"
verify_py="$TOP/tests/tools/verify_attestation.py"
[ -x "$sign" ] || fail "$sign missing; run make"
cd "$TEST_TMP"
chmod 0755 "$TEST_TMP"   # the unprivileged user below must reach the state directory
export QT_VMM_STATE_DIR="$TEST_TMP/state"
nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }

# py_rejects WHY ARGS...: the independent verifier must exit 1 with a reason.
py_rejects() {
  local why=$1; shift
  set +e; "$py" "$verify_py" "$@" >out.txt 2>err.txt; local got=$?; set -e
  [ "$got" -eq 1 ] || { cat out.txt err.txt; fail "verify_attestation.py accepted a document that is $why (exit $got)"; }
  expect_contains "$(cat err.txt)" "verify_attestation:" "verify_attestation.py's reason ($why)"
}

# --- the root: made once, the same after; before it exists a user is told who makes it --------
expect_cli_error 8 ATTESTATION_NO_ROOT nobody "$QT_VMM" attestation root-cert
"$QT_VMM" attestation root-cert > root1.pem
"$QT_VMM" attestation root-cert > root2.pem
cmp root1.pem root2.pem || fail "root-cert printed two different roots"
openssl x509 -in root1.pem -noout -subject | grep "qt-vmm root $(hostname)" >/dev/null || fail "the root CN does not name the host"
openssl x509 -in root1.pem -noout -text | grep 'CA:TRUE' >/dev/null || fail "the root is not a CA"
expect_eq "$(stat -c '%a %U' state/attestation/private)" "700 root" "private directory"
expect_eq "$(stat -c '%a %U' state/attestation/private/root.key)" "600 root" "root.key"
expect_eq "$(stat -c '%a' state/attestation/root.crt)" "644" "public root.crt"
nobody "$QT_VMM" attestation root-cert > root-nobody.pem
cmp root1.pem root-nobody.pem || fail "an unprivileged user gets another root-cert"
if nobody cat state/attestation/private/root.key >/dev/null 2>&1; then fail "an unprivileged user can read the root key"; fi
# Loading the key as another user is refused (ATTESTATION_KEY_ACCESS): no qt-vmm command loads
# it for a non-root caller, so the unit test that checks it runs here as nobody.
if [ -x "$BUILD/tests/enclave_test" ]; then
  nobody "$BUILD/tests/enclave_test" -tc='attestation keys: the first use*' > nobody-unit.txt 2>&1 \
    || { cat nobody-unit.txt; fail "load_or_create_host_root as nobody was not refused with ATTESTATION_KEY_ACCESS"; }
  grep -Eq 'test cases: +1 \| +1 passed' nobody-unit.txt || { cat nobody-unit.txt; fail "the non-root key test did not run"; }
else
  echo "note: $BUILD/tests/enclave_test not built; the non-root key refusal is not checked here"
fi

# --- a document signed with the host root verifies with both verifiers -----------------------
pcr0=$(head -c 48 /dev/urandom | xxd -p -c 48)
now=$(date +%s)
"$sign" sign --root-key state/attestation/private/root.key --root-cert root1.pem --out doc.cbor \
  --module-id "$(hostname)-enc3" --pcr 0="$pcr0" --nonce 0badc0de --user-data 75736572 --start "$now"
"$QT_VMM" attestation verify --doc doc.cbor --pcr 0="$pcr0" --nonce 0badc0de > ours.json
"$py" "$verify_py" --root root1.pem --doc doc.cbor --pcr 0="$pcr0" --nonce 0badc0de > theirs.json
expect_eq "$(jq -r .module_id ours.json)" "$(hostname)-enc3" "module_id (qt-vmm)"
expect_eq "$(jq -r '.pcrs["0"]' ours.json)" "$pcr0" "PCR0 (qt-vmm)"
expect_eq "$(jq -r .user_data ours.json)" "75736572" "user_data (qt-vmm)"
expect_eq "$(jq -r .public_key ours.json)" "null" "public_key (qt-vmm)"
expect_eq "$(jq -S -c . ours.json)" "$(jq -S -c . theirs.json)" "the two verifiers' payloads"
expect_eq "$(jq -r .timestamp ours.json)" "$((now * 1000))" "timestamp (ms)"
# The CLI's output machinery applies: --query, --output, and --doc - reads stdin.
expect_eq "$("$QT_VMM" attestation verify --doc - --output tsv --query module_id < doc.cbor)" "$(hostname)-enc3" "verify --doc - --query"
# An unprivileged user verifies against the public root without being able to sign.
expect_eq "$(nobody "$QT_VMM" attestation verify --doc doc.cbor --output tsv --query digest)" "SHA384" "verify as nobody"
# The layout is the real sample's: first bytes 84 44 a1 01 38 22 a0.
expect_eq "$(head -c 7 doc.cbor | xxd -p)" "8444a1013822a0" "COSE_Sign1 header bytes"

# --- rejected by both ---------------------------------------------------------------------------
# Tampered: one byte of the module_id inside the signed payload.
off=$(grep -abo -- "-enc3" doc.cbor | head -n1 | cut -d: -f1)
cp doc.cbor tampered.cbor
printf 'X' | dd of=tampered.cbor bs=1 seek="$off" conv=notrunc status=none
expect_cli_error 5 ATTESTATION_BAD_SIGNATURE "$QT_VMM" attestation verify --doc tampered.cbor
py_rejects tampered --root root1.pem --doc tampered.cbor
# Foreign root: another root signed it; and our document checked against another root.
"$sign" make-root foreign.key foreign.pem "foreign host"
"$sign" sign --root-key foreign.key --root-cert foreign.pem --out foreign.cbor
expect_cli_error 5 ATTESTATION_BAD_CHAIN "$QT_VMM" attestation verify --doc foreign.cbor
py_rejects "from a foreign root" --root root1.pem --doc foreign.cbor
expect_cli_error 5 ATTESTATION_BAD_CHAIN "$QT_VMM" attestation verify --doc doc.cbor --root-cert foreign.pem
py_rejects "checked against a foreign root" --root foreign.pem --doc doc.cbor
# A forged chain: the leaf issued by the foreign root, the cabundle naming ours.
"$sign" sign --root-key foreign.key --root-cert foreign.pem --cabundle-root root1.pem --out forged.cbor
expect_cli_error 5 ATTESTATION_BAD_CHAIN "$QT_VMM" attestation verify --doc forged.cbor
expect_contains "$(cat err.txt)" "is not signed by" "the forged chain's reason"
py_rejects "a forged chain" --root root1.pem --doc forged.cbor
expect_contains "$(cat err.txt)" "broken chain" "verify_attestation.py's reason for the forged chain"
# Expired (the leaf lives a year) and not yet valid.
late=$((now + 2 * 365 * 86400))
expect_cli_error 5 ATTESTATION_EXPIRED "$QT_VMM" attestation verify --doc doc.cbor --at "$late"
expect_contains "$(cat err.txt)" "has expired" "the expiry reason"
py_rejects expired --root root1.pem --doc doc.cbor --at "$late"
expect_cli_error 5 ATTESTATION_EXPIRED "$QT_VMM" attestation verify --doc doc.cbor --at "$((now - 120))"
py_rejects "not yet valid" --root root1.pem --doc doc.cbor --at "$((now - 120))"
# A time no certificate library can represent: a rejection with a reason, not a crash.
py_rejects "checked in the year 3 million" --root root1.pem --doc doc.cbor --at 99999999999999
[ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "verify_attestation.py: more than one line for an absurd --at"; }
expect_cli_error 2 USAGE "$QT_VMM" attestation verify --doc doc.cbor --at 99999999999999
# Wrong PCR, wrong nonce.
other=$(head -c 48 /dev/zero | xxd -p -c 48)
expect_cli_error 5 ATTESTATION_PCR_MISMATCH "$QT_VMM" attestation verify --doc doc.cbor --pcr 0="$other"
py_rejects "a PCR mismatch" --root root1.pem --doc doc.cbor --pcr 0="$other"
expect_cli_error 5 ATTESTATION_NONCE_MISMATCH "$QT_VMM" attestation verify --doc doc.cbor --nonce 0badc0df
py_rejects "a nonce mismatch" --root root1.pem --doc doc.cbor --nonce 0badc0df
# Not a document at all.
head -c 300 /dev/urandom > junk.cbor
expect_cli_error 3 ATTESTATION_MALFORMED "$QT_VMM" attestation verify --doc junk.cbor
py_rejects junk --root root1.pem --doc junk.cbor
# Bad options are usage errors naming the option.
expect_cli_error 2 BAD_PCR_OPTION "$QT_VMM" attestation verify --doc doc.cbor --pcr 40="$pcr0"
expect_cli_error 2 BAD_NONCE_OPTION "$QT_VMM" attestation verify --doc doc.cbor --nonce xyz

# --- the real Nitro sample verifies with both, against its own root, at its issue time ---------
sample="$TOP/vmm/nsm/testdata/nitro_sample_document.cbor"
"$py" - "$sample" > nitro-root.pem <<'PY'
import sys, cbor2
from cryptography import x509
from cryptography.hazmat.primitives import serialization
payload = cbor2.loads(cbor2.loads(open(sys.argv[1], "rb").read())[2])
sys.stdout.write(x509.load_der_x509_certificate(payload["cabundle"][0]).public_bytes(serialization.Encoding.PEM).decode())
PY
pcr4=5a3e54bd0a5f50b1b5ec641e063a1f1e7e5aadc139f49fd8784afca90a83767ec13dd70b3f2e3f43b8e23355baaa9053
expect_eq "$("$QT_VMM" attestation verify --doc "$sample" --root-cert nitro-root.pem --at 1658860752 --pcr 4=$pcr4 --output tsv --query module_id)" \
  "i-0936512d5ae6ee91a-enc01823bcde8eb8a8a" "the Nitro sample (qt-vmm)"
"$py" "$verify_py" --root nitro-root.pem --doc "$sample" --at 1658860752 --pcr 4=$pcr4 > nitro.json
expect_eq "$(jq -r .module_id nitro.json)" "i-0936512d5ae6ee91a-enc01823bcde8eb8a8a" "the Nitro sample (python)"
expect_cli_error 5 ATTESTATION_EXPIRED "$QT_VMM" attestation verify --doc "$sample" --root-cert nitro-root.pem
echo "attestation_cli: ok"
