#!/usr/bin/env bash
# describe-eif, pcr and sign on real EIFs written by the eif library (through the small
# eif-testdata helper, so the test chooses every byte): PCRs checked against sha384sum/openssl,
# signing and re-signing, a corrupted byte, every bad key/certificate case (exit status, one-line
# message, nothing written), and the yaml/table output formats.
source "$TOP/tests/lib.sh"
command -v jq >/dev/null || fail "jq missing; run scripts/install-deps.sh"
command -v openssl >/dev/null || fail "openssl missing"
mk="$BUILD/bin/eif-testdata"
[ -x "$mk" ] || fail "$mk missing; run make"
cd "$TEST_TMP"

# --- inputs: a fake kernel with a .config beside it, a cmdline, two ramdisks -----------------
head -c 70000 /dev/urandom > kernel
printf '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 6.1.99 Kernel Configuration\n#\n' > kernel.config
printf 'console=ttyS0 reboot=k' > cmdline
head -c 200000 /dev/urandom > rd0
head -c 1500000 /dev/urandom > rd1
printf '{"team":"enclaves","ticket":42}' > custom.json

# PCR = SHA384(48 zero bytes || SHA384(bytes)), computed with the system tools only.
pcr_of() { { head -c 48 /dev/zero; cat "$@" | sha384sum | cut -c1-96 | xxd -r -p; } | sha384sum | cut -c1-96; }
der_pcr() { openssl x509 -in "$1" -outform DER -out "$1.der" && pcr_of "$1.der"; }
sections_of() { od -An -tu1 -j26 -N2 "$1" | awk '{print $1 * 256 + $2}'; }

SOURCE_DATE_EPOCH=1700000000 "$mk" image.eif kernel "$(cat cmdline)" rd0 rd1 --name hello --version 3.1 --metadata custom.json > built.json
want0=$(pcr_of kernel cmdline rd0 rd1); want1=$(pcr_of kernel cmdline rd0); want2=$(pcr_of rd1)

# --- describe-eif on the unsigned image ------------------------------------------------------
"$QT_VMM" enclave describe-eif --eif image.eif > d.json
jq -e '.EifVersion == 4 and .IsSigned == false and .CheckCRC == true' d.json >/dev/null || { cat d.json; fail "describe-eif basics"; }
jq -e 'has("SigningCertificate") | not' d.json >/dev/null || fail "unsigned image shows SigningCertificate"
[ "$(jq -r .Measurements.PCR0 d.json)" = "$want0" ] || fail "PCR0 differs from sha384sum"
[ "$(jq -r .Measurements.PCR1 d.json)" = "$want1" ] || fail "PCR1 differs from sha384sum"
[ "$(jq -r .Measurements.PCR2 d.json)" = "$want2" ] || fail "PCR2 differs from sha384sum"
[ "$(jq -r .Measurements.HashAlgorithm d.json)" = "Sha384 { ... }" ] || fail "HashAlgorithm"
[ "$(jq -r .Measurements.PCR0 built.json)" = "$want0" ] || fail "writer PCR0"
# json output sorts keys, as knack's does; a query keeps nitro-cli's field order in a table.
[ "$(jq -c '[keys_unsorted[]]' d.json)" = '["Arch","CheckCRC","EifVersion","ImageName","ImageVersion","IsSigned","Measurements","Metadata"]' ] \
  || { jq -c '[keys_unsorted[]]' d.json; fail "describe-eif keys"; }
[ "$("$QT_VMM" -o table --query @ enclave describe-eif --eif image.eif | head -n1 | tr -s ' ')" = "EifVersion Arch IsSigned CheckCRC ImageName ImageVersion" ] \
  || fail "describe-eif field order"
jq -e '.ImageName == "hello" and .ImageVersion == "3.1"' d.json >/dev/null || fail "ImageName/Version"
jq -e '.Metadata.BuildTime == "2023-11-14T22:13:20+00:00" and .Metadata.BuildTool == "qt-vmm" and .Metadata.OperatingSystem == "Linux"
       and .Metadata.KernelVersion == "6.1.99" and .Metadata.DockerInfo == null and .Metadata.team == "enclaves" and .Metadata.ticket == 42' d.json >/dev/null \
  || { cat d.json; fail "describe-eif metadata"; }
"$QT_VMM" enclave describe-eif --eif-path image.eif | cmp - d.json || fail "--eif-path differs from --eif"
[ "$(sections_of image.eif)" -eq 5 ] || fail "unsigned image should have 5 sections"

# --- pcr ----------------------------------------------------------------------------------------
[ "$("$QT_VMM" enclave pcr --input rd1 | jq -r .PCR)" = "$want2" ] || fail "pcr --input"
: > empty
[ "$("$QT_VMM" enclave pcr --input empty | jq -r .PCR)" = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a" ] || fail "pcr of nothing"
expect_cli_error 2 USAGE "$QT_VMM" enclave pcr
expect_cli_error 2 USAGE "$QT_VMM" enclave pcr --input rd1 --signing-certificate rd0
expect_cli_error 8 FILE_OPEN "$QT_VMM" enclave pcr --input missing-file

# --- keys and certificates ----------------------------------------------------------------------
key() { openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:$2" -out "$1" 2>/dev/null; }
cert() { openssl req -new -x509 -key "$1" -out "$2" -days 30 -subj "/C=DE/O=qt-vmm/CN=$3" 2>/dev/null; }
key k384.pem secp384r1; cert k384.pem c384.pem signer-384
key k256.pem prime256v1; cert k256.pem c256.pem signer-256
key k521.pem secp521r1; cert k521.pem c521.pem signer-521
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null; cert rsa.pem rsa-cert.pem rsa
# Expired and not-yet-valid certificates for k384.pem, via `openssl ca -selfsign` with fixed dates.
mkdir ca; : > ca/index.txt; echo 01 > ca/serial
printf '[ca]\ndefault_ca=t\n[t]\ndir=ca\ndatabase=ca/index.txt\nnew_certs_dir=ca\nserial=ca/serial\ndefault_md=sha384\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
openssl req -new -key k384.pem -subj /CN=dated -out dated.csr 2>/dev/null
openssl ca -batch -config ca.cnf -selfsign -keyfile k384.pem -in dated.csr -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z >/dev/null 2>&1
openssl ca -batch -config ca.cnf -selfsign -keyfile k384.pem -in dated.csr -out future.pem -startdate 20990101000000Z -enddate 20990102000000Z >/dev/null 2>&1
printf -- '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n' > garbage.pem

[ "$("$QT_VMM" enclave pcr --signing-certificate c384.pem | jq -r .PCR8)" = "$(der_pcr c384.pem)" ] || fail "pcr --signing-certificate"
expect_cli_error 5 CERT_BAD_PEM "$QT_VMM" enclave pcr --signing-certificate garbage.pem

# --- sign, re-sign ------------------------------------------------------------------------------
cp image.eif unsigned.eif
"$QT_VMM" enclave sign --eif image.eif --private-key k384.pem --signing-certificate c384.pem > s1.json 2> s1.err
expect_contains "$(cat s1.err)" "Enclave Image successfully signed."
jq -e --arg p0 "$want0" --arg p1 "$want1" --arg p2 "$want2" --arg p8 "$(der_pcr c384.pem)" \
  '.Measurements.PCR0 == $p0 and .Measurements.PCR1 == $p1 and .Measurements.PCR2 == $p2 and .Measurements.PCR8 == $p8' s1.json >/dev/null \
  || { cat s1.json; fail "sign output"; }
[ "$(sections_of image.eif)" -eq 6 ] || fail "signed image should have 6 sections"
"$QT_VMM" enclave describe-eif --eif image.eif > d1.json
jq -e '.IsSigned and .CheckCRC and .SignatureCheck and .SigningCertificate.IssuerName.CN == "signer-384"
       and .SigningCertificate.IssuerName.O == "qt-vmm" and .SigningCertificate.Algorithm == "ecdsa-with-SHA256"' d1.json >/dev/null \
  || { cat d1.json; fail "describe-eif of the signed image"; }
jq -e '.SigningCertificate.Signature | test("^([0-9A-F]{2}:)+[0-9A-F]{2}$")' d1.json >/dev/null || fail "certificate signature format"
[ "$(jq -c '[keys_unsorted[]]' d1.json)" = '["Arch","CheckCRC","EifVersion","ImageName","ImageVersion","IsSigned","Measurements","Metadata","SignatureCheck","SigningCertificate"]' ] \
  || fail "signed describe-eif keys"
[ "$(jq -r .Measurements.PCR8 d1.json)" = "$(der_pcr c384.pem)" ] || fail "describe PCR8"
size1=$(stat -c %s image.eif)

for curve in 256 521; do
  "$QT_VMM" enclave sign --eif image.eif --private-key k$curve.pem --signing-certificate c$curve.pem > s2.json 2>/dev/null
  [ "$(sections_of image.eif)" -eq 6 ] || fail "re-signed image should still have 6 sections"
  [ "$(jq -r .Measurements.PCR8 s2.json)" = "$(der_pcr c$curve.pem)" ] || fail "re-sign PCR8 (P-$curve)"
  "$QT_VMM" enclave describe-eif --eif image.eif > d2.json
  jq -e --arg p0 "$want0" '.SignatureCheck and .CheckCRC and .Measurements.PCR0 == $p0' d2.json >/dev/null || fail "re-signed describe (P-$curve)"
  # The image is the unsigned one plus exactly one signature section: same prefix bytes.
  cmp -n $(( $(stat -c %s unsigned.eif) - 548 )) <(tail -c +549 image.eif) <(tail -c +549 unsigned.eif) || fail "sections before the signature changed"
done
[ "$(stat -c %s image.eif)" -ne "$size1" ] || fail "a P-521 signature should change the file size"

# The writer signs directly too, with the same result as sign.
"$mk" direct.eif kernel "$(cat cmdline)" rd0 rd1 --private-key k384.pem --signing-certificate c384.pem > direct.json
jq -e --arg p0 "$want0" '.Measurements.PCR0 == $p0 and (.Measurements.PCR8 | length) == 96' direct.json >/dev/null || fail "writer signing"
"$QT_VMM" enclave describe-eif --eif direct.eif | jq -e '.SignatureCheck' >/dev/null || fail "writer signature check"

# --- bad keys and certificates: exit status, one line, nothing written -----------------------
cp image.eif before.eif
before_files=$(ls | LC_ALL=C sort)
check_untouched() { cmp image.eif before.eif || fail "$1 modified the image"; [ "$(ls | LC_ALL=C sort)" = "$before_files" ] || fail "$1 left files behind"; }
sign() { "$QT_VMM" enclave sign --eif image.eif "$@"; }
expect_cli_error 5 SIGN_BAD_KEY_TYPE sign --private-key rsa.pem --signing-certificate rsa-cert.pem; check_untouched "RSA key"
expect_cli_error 5 SIGN_KEY_MISMATCH sign --private-key k384.pem --signing-certificate c256.pem; check_untouched "mismatched key"
expect_cli_error 5 SIGN_CERT_NOT_VALID sign --private-key k384.pem --signing-certificate expired.pem; check_untouched "expired cert"
expect_contains "$(cat err.txt)" "expired"
expect_cli_error 5 SIGN_CERT_NOT_VALID sign --private-key k384.pem --signing-certificate future.pem; check_untouched "future cert"
expect_contains "$(cat err.txt)" "not valid yet"
expect_cli_error 5 SIGN_BAD_CERT sign --private-key k384.pem --signing-certificate garbage.pem; check_untouched "garbage cert"
expect_cli_error 5 SIGN_BAD_KEY sign --private-key garbage.pem --signing-certificate c384.pem; check_untouched "garbage key"
expect_cli_error 8 FILE_OPEN sign --private-key nokey.pem --signing-certificate c384.pem; check_untouched "missing key"
expect_cli_error 2 USAGE sign --private-key k384.pem; check_untouched "key without certificate"
expect_cli_error 2 USAGE sign --signing-certificate c384.pem; check_untouched "certificate without key"
# The library path (what make-img uses) refuses the same inputs before writing anything.
expect_cli_error 5 SIGN_BAD_KEY_TYPE "$mk" new.eif kernel x rd0 --private-key rsa.pem --signing-certificate rsa-cert.pem
expect_cli_error 5 SIGN_CERT_NOT_VALID "$mk" new.eif kernel x rd0 --private-key k384.pem --signing-certificate expired.pem
expect_cli_error 5 SIGN_INCOMPLETE "$mk" new.eif kernel x rd0 --private-key k384.pem
[ ! -e new.eif ] || fail "an output was written despite a bad key"
[ "$(ls | LC_ALL=C sort)" = "$(printf '%s\n' $before_files err.txt out.txt | LC_ALL=C sort -u)" ] || fail "temp files left behind"

# --- corruption --------------------------------------------------------------------------------
cp unsigned.eif corrupt.eif
printf '\x5a' | dd of=corrupt.eif bs=1 seek=1000 conv=notrunc 2>/dev/null
cmp -s corrupt.eif unsigned.eif && printf '\xa5' | dd of=corrupt.eif bs=1 seek=1000 conv=notrunc 2>/dev/null
"$QT_VMM" enclave describe-eif --eif corrupt.eif > dc.json || fail "describe-eif must report, not fail on, a bad CRC"
jq -e '.CheckCRC == false' dc.json >/dev/null || fail "CheckCRC should be false after corrupting one byte"
cp corrupt.eif corrupt-before.eif
expect_cli_error 3 EIF_BAD_CRC "$QT_VMM" enclave sign --eif corrupt.eif --private-key k384.pem --signing-certificate c384.pem
cmp corrupt.eif corrupt-before.eif || fail "sign modified a corrupt image"
# Structural damage is an error naming the problem.
head -c 3000 unsigned.eif > truncated.eif
expect_cli_error 3 EIF_TRUNCATED "$QT_VMM" enclave describe-eif --eif truncated.eif
expect_contains "$(cat err.txt)" "runs past the end of the file"
printf 'XXXX' | dd of=badmagic.eif conv=notrunc 2>/dev/null; cat unsigned.eif >> badmagic.eif
printf 'NOPE' | dd of=badmagic.eif bs=1 seek=0 conv=notrunc 2>/dev/null
expect_cli_error 3 EIF_BAD_MAGIC "$QT_VMM" enclave describe-eif --eif badmagic.eif
expect_cli_error 2 USAGE "$QT_VMM" enclave describe-eif

# --- output formats ----------------------------------------------------------------------------
yaml=$("$QT_VMM" --output yaml enclave describe-eif --eif image.eif)
expect_contains "$yaml" "EifVersion: 4"
expect_contains "$yaml" "SignatureCheck: true"
expect_contains "$yaml" "PCR0: $want0"
table=$("$QT_VMM" --output table enclave describe-eif --eif image.eif)
expect_contains "$table" "EifVersion"
expect_contains "$(tail -n1 <<<"$table")" "True"
expect_contains "$("$QT_VMM" -o tsv enclave pcr --input rd1)" "$want2"
[ -z "$("$QT_VMM" -o none enclave pcr --input rd1)" ] || fail "--output none printed something"
echo "eif commands: all checks passed"
