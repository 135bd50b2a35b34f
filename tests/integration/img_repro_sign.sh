#!/usr/bin/env bash
# make-img is reproducible (same inputs → byte-identical EIF, also from another output path and
# another source kind), SOURCE_DATE_EPOCH drives BuildTime and the ramdisk mtimes; signing needs
# key and certificate together and yields PCR8 = `enclave pcr --signing-certificate`; --name,
# --version, --metadata, --cmdline land in the EIF; --output yaml; a failed build leaves an
# existing output untouched and no temp files. The kernel and init defaults (beside the binary)
# are used here.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
need_kernel
[ -e "$BUILD/kernel/bzImage" ] || fail "$BUILD/kernel/bzImage missing; run make kernel"
mklayer="$TOP/tools/image/testdata/make_layer.py"
cd "$TEST_TMP"

"$mklayer" l.tar <<'SPEC'
dir app 0755 0 0
big app/data.bin 0644 3000000
file app/run 0755 0 0 run
hardlink app/run2 app/run
SPEC
"$mklayer" l2.tar <<'SPEC'
file app/extra 0644 0 0 extra
SPEC
gzip -n -c l.tar > l.tar.gz
config=$(image_config '{"Entrypoint":["/app/run"],"Env":["A=1"]}' l.tar l2.tar)
oci_image layout "$config" latest gzip:l.tar.gz tar:l2.tar >/dev/null
docker_archive saved.tar "$config" app:1 l.tar l2.tar

build() { "$QT_VMM" enclave make-img --docker-uri "$1" --eif "$2" "${@:3}" 2>"$TEST_TMP/err"; }

# 1. Reproducible.
export SOURCE_DATE_EPOCH=1600000000
a=$(build oci:layout a.eif --name app --version 1) || { cat err; fail "build a"; }
mkdir sub; b=$(build oci:layout sub/b.eif --name app --version 1) || { cat err; fail "build b"; }
cmp a.eif sub/b.eif || fail "two builds of the same inputs differ"
[ "$a" = "$b" ] || fail "two builds report different PCRs"
c=$(build docker-archive:saved.tar c.eif --name app --version 1) || { cat err; fail "build c"; }
cmp a.eif c.eif || fail "the same image from a docker archive gives another EIF"
desc=$("$QT_VMM" enclave describe-eif --eif a.eif)
[ "$(jq -r .Metadata.BuildTime <<<"$desc")" = "2020-09-13T12:26:40+00:00" ] || fail "BuildTime: $desc"
[ "$(jq -r .ImageName <<<"$desc")/$(jq -r .ImageVersion <<<"$desc")" = app/1 ] || fail "--name/--version: $desc"
eif_section a.eif 2 0 cmdline.txt
[ "$(cat cmdline.txt)" = "console=ttyS0 reboot=k panic=-1 random.trust_cpu=on" ] || fail "default cmdline: $(cat cmdline.txt)"
eif_section a.eif 1 0 kernel.bin
cmp kernel.bin "$BUILD/kernel/bzImage" || fail "default kernel is not $BUILD/kernel/bzImage"
eif_unpack_ramdisk a.eif 0 rd0
cmp rd0/init "$BUILD/guest/init" || fail "default init is not $BUILD/guest/init"
eif_unpack_ramdisk a.eif 1 rd1
cmp rd1/rootfs/app/data.bin <(python3 - <<'PY'
import hashlib, sys
out = bytearray(); i = 0
while len(out) < 3000000:
    out += hashlib.sha256(b"app/data.bin" + i.to_bytes(8, "big")).digest(); i += 1
sys.stdout.buffer.write(out[:3000000])
PY
) || fail "3 MB file content differs"
[ "$(stat -c %Y rd1/rootfs/app/extra)" = 1600000000 ] || fail "mtime"

# Another SOURCE_DATE_EPOCH: the app ramdisk (mtimes) and metadata change, the boot part not.
d=$(SOURCE_DATE_EPOCH=1600000001 build oci:layout d.eif --name app --version 1) || { cat err; fail "build d"; }
[ "$(jq -r .PCR1 <<<"$d")" = "$(jq -r .PCR1 <<<"$a")" ] || fail "PCR1 changed with SOURCE_DATE_EPOCH"
[ "$(jq -r .PCR2 <<<"$d")" != "$(jq -r .PCR2 <<<"$a")" ] || fail "PCR2 ignores SOURCE_DATE_EPOCH"
# Without SOURCE_DATE_EPOCH: mtimes 0, so the measurements are still stable.
e1=$(env -u SOURCE_DATE_EPOCH "$QT_VMM" enclave make-img --docker-uri oci:layout --eif e1.eif 2>/dev/null)
e2=$(env -u SOURCE_DATE_EPOCH "$QT_VMM" enclave make-img --docker-uri oci:layout --eif e2.eif 2>/dev/null)
[ "$e1" = "$e2" ] || fail "PCRs differ between builds without SOURCE_DATE_EPOCH"
SOURCE_DATE_EPOCH=soon build oci:layout bad.eif && fail "a malformed SOURCE_DATE_EPOCH was accepted"
expect_contains "$(cat err)" "IMG_BAD_SOURCE_DATE_EPOCH"

# 2. Signing: both or neither.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp384r1 -out key.pem 2>/dev/null
openssl req -new -x509 -key key.pem -out cert.pem -days 30 -subj "/O=qt-vmm/CN=img-test" 2>/dev/null
s=$(build oci:layout signed.eif --private-key key.pem --signing-certificate cert.pem) || { cat err; fail "signed build"; }
[ "$(jq -r .PCR8 <<<"$s")" = "$(jq -r .PCR8 <<<"$("$QT_VMM" enclave pcr --signing-certificate cert.pem)")" ] || fail "PCR8 mismatch: $s"
[ "$(jq -r .PCR0 <<<"$s")" = "$(jq -r .PCR0 <<<"$e1")" ] || true   # (metadata differs; PCR0 covers no metadata)
sdesc=$("$QT_VMM" enclave describe-eif --eif signed.eif)
[ "$(jq -r .IsSigned <<<"$sdesc")" = true ] && [ "$(jq -r .SignatureCheck <<<"$sdesc")" = true ] || fail "signature: $sdesc"
for args in "--private-key key.pem" "--signing-certificate cert.pem"; do
  status=0; build oci:layout half.eif $args >/dev/null || status=$?
  [ "$status" -eq 2 ] || fail "$args alone: exit $status"
  expect_contains "$(cat err)" "IMG_SIGNING_ARGS"
  [ ! -e half.eif ] || fail "$args alone wrote an EIF"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.pem 2>/dev/null
build oci:layout mismatch.eif --private-key other.pem --signing-certificate cert.pem >/dev/null && fail "mismatched key accepted"
[ ! -e mismatch.eif ] || fail "mismatched key wrote an EIF"

# 3. Metadata, cmdline, output formats.
echo '{"team":"enclaves","build":7}' > meta.json
m=$(build oci:layout meta.eif --metadata meta.json --cmdline "console=ttyS0 quiet") || { cat err; fail "metadata build"; }
mdesc=$("$QT_VMM" enclave describe-eif --eif meta.eif)
[ "$(jq -r .Metadata.team <<<"$mdesc")" = enclaves ] || fail "custom metadata: $mdesc"
eif_section meta.eif 2 0 cmdline2.txt
[ "$(cat cmdline2.txt)" = "console=ttyS0 quiet" ] || fail "--cmdline"
head -c 5000 /dev/zero | tr '\0' ' ' > big.json; echo '{}' >> big.json
build oci:layout big.eif --metadata big.json >/dev/null && fail "5000-byte metadata accepted"
echo '{oops' > broken.json
build oci:layout broken.eif --metadata broken.json >/dev/null && fail "invalid metadata JSON accepted"
[ ! -e big.eif ] && [ ! -e broken.eif ] || fail "bad metadata wrote an EIF"
y=$("$QT_VMM" --output yaml enclave make-img --docker-uri oci:layout --eif y.eif 2>/dev/null)
grep -qE '^digest: "?SHA384"?$' <<<"$y" || fail "yaml digest: $y"
grep -qE "^PCR0: \"?$(jq -r .PCR0 <<<"$a")\"?\$" <<<"$y" || fail "yaml PCR0: $y"
grep -qE "^PCR2: \"?$(jq -r .PCR2 <<<"$a")\"?\$" <<<"$y" || fail "yaml PCR2: $y"
expect_not_contains "$y" "{"

# 4. A failed build leaves the old output and no temp files.
echo old > keep.eif
cp -r layout broken-layout
rm broken-layout/blobs/sha256/$(sha256_of l2.tar)
build oci:broken-layout keep.eif >/dev/null && fail "missing blob accepted"
[ "$(cat keep.eif)" = old ] || fail "failed build clobbered the existing output"
build oci:layout keep.eif --kernel /nonexistent >/dev/null && fail "missing kernel accepted"
expect_contains "$(cat err)" "IMG_MISSING_INPUT"
[ "$(cat keep.eif)" = old ] || fail "failed build clobbered the existing output"
QT_VMM_INIT=/nonexistent build oci:layout keep.eif >/dev/null && fail "missing init accepted"
[ -z "$(find . -name '*.tmp-*' -o -name '.qt-vmm-scratch-*')" ] || fail "temp files left: $(find . -name '*.tmp-*')"
echo PASS
