#!/usr/bin/env bash
# make-img reads images from anyone. A gzip bomb layer (100 MiB of zeros in ~100 KiB) is refused
# while it inflates (IMG_COMPRESSION_RATIO) and no EIF appears; --max-ratio lets a trusted one through.
# A gzip-compressed docker archive that is itself the bomb is refused the same way.
# A layer with more entries than --max-entries (IMG_TOO_MANY_ENTRIES) and files adding up past
# --max-unpacked-bytes (IMG_TOO_LARGE) are refused the same way. An image name that looks like an
# option is refused (IMG_BAD_REFERENCE), and `docker save` gets "--" before the name.
# A layer blob opened for writing while make-img reads its files in place (after checking its
# digest) makes make-img refuse (IMG_BLOB_CHANGED) and write no EIF.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
need_kernel
cd "$TEST_TMP"

# expect_refused STATUS CODE SOURCE [extra args]: fails unless make-img exits STATUS naming CODE
# and leaves no EIF behind.
expect_refused() {
  local status=0 out
  out=$(PATH="${ENGINE_PATH:-$PATH}" "$QT_VMM" enclave make-img --docker-uri="$3" --eif bad.eif --kernel "$KERNEL" "${@:4}" 2>&1) || status=$?
  echo "$out"
  [ "$status" -eq "$1" ] || fail "expected exit $1 for $3 ${*:4}, got $status: $out"
  expect_contains "$out" "[$2]"
  [ ! -e bad.eif ] || fail "an EIF was written although make-img failed"
  LAST_ERROR=$out
}

# 1. A gzip bomb: one file of 100 MiB of zeros.
mkdir bomb && truncate -s 100M bomb/zeros
layer_tar bomb.tar bomb zeros
gzip -n -9 -c bomb.tar > bomb.tar.gz
echo "bomb layer: $(stat -c %s bomb.tar.gz) bytes compressed, $(stat -c %s bomb.tar) uncompressed"
oci_image bomb-layout "$(image_config '{"Cmd":["/zeros"]}' bomb.tar)" latest gzip:bomb.tar.gz >/dev/null
# The same bytes as a gzip-compressed docker archive (`docker save | gzip`): the archive is the bomb.
docker_archive bomb-archive.tar "$(image_config '{"Cmd":["/zeros"]}' bomb.tar)" bomb:1 bomb.tar
gzip -n -9 bomb-archive.tar
echo "bomb archive: $(stat -c %s bomb-archive.tar.gz) bytes"
rm -rf bomb bomb.tar
expect_refused 3 IMG_COMPRESSION_RATIO oci:bomb-layout
expect_contains "$LAST_ERROR" "decompresses to more than 100 times its"
expect_contains "$LAST_ERROR" "--max-ratio"
# Overridable: the admin who trusts it raises the cap.
"$QT_VMM" enclave make-img --docker-uri oci:bomb-layout --eif trusted.eif --kernel "$KERNEL" --max-ratio 5000 >/dev/null 2>err \
  || { cat err; fail "--max-ratio 5000 should let the layer through"; }
rm -f trusted.eif
expect_refused 3 IMG_COMPRESSION_RATIO docker-archive:bomb-archive.tar.gz
expect_contains "$LAST_ERROR" "image archive 'bomb-archive.tar.gz': decompresses to more than 100 times"

# 2. Too many entries: 3 directories and 300 files, with --max-entries 200.
mkdir many && for d in a b c; do mkdir many/$d; for i in $(seq 100); do : > many/$d/f$i; done; done
layer_tar many.tar many .
oci_image many-layout "$(image_config '{"Cmd":["/a/f1"]}' many.tar)" latest tar:many.tar >/dev/null
expect_refused 3 IMG_TOO_MANY_ENTRIES oci:many-layout --max-entries 200
expect_contains "$LAST_ERROR" "more than 200 entries"
"$QT_VMM" enclave make-img --docker-uri oci:many-layout --eif many.eif --kernel "$KERNEL" >/dev/null 2>err \
  || { cat err; fail "the default limits should take 304 entries"; }

# 3. Files past --max-unpacked-bytes (over all layers: 2 x 3000 bytes against 5000).
mkdir l1 l2 && head -c 3000 /dev/zero > l1/one && head -c 3000 /dev/zero > l2/two
layer_tar l1.tar l1 one; layer_tar l2.tar l2 two
oci_image big-layout "$(image_config '{"Cmd":["/one"]}' l1.tar l2.tar)" latest tar:l1.tar tar:l2.tar >/dev/null
expect_refused 3 IMG_TOO_LARGE oci:big-layout --max-unpacked-bytes 5000
expect_contains "$LAST_ERROR" "'two' (3000 bytes) takes the image's files past 5000 bytes"
expect_refused 2 USAGE oci:big-layout --max-unpacked-bytes 0

# 4. Through a docker CLI: the name comes after "--"; a name that looks like an option never reaches it.
mkdir fakebin
printf '#!/bin/sh\necho "$*" >> %s/docker-args\necho "Error: No such image" >&2; exit 1\n' "$TEST_TMP" > fakebin/docker
chmod +x fakebin/docker
ENGINE_PATH="$TEST_TMP/fakebin" expect_refused 8 IMG_NO_CONTAINER_ENGINE app:1
expect_eq "$(head -n1 docker-args)" "save -- app:1" "docker's arguments"
rm -f docker-args
ENGINE_PATH="$TEST_TMP/fakebin" expect_refused 2 IMG_BAD_REFERENCE --output=/tmp/owned
[ ! -e docker-args ] || fail "docker was run with a name that looks like an option: $(cat docker-args)"

# 5. The layer blob rewritten during the build. make-img leases the plain-tar blob, checks its
#    digest, and reads the files again from it for the ramdisk; a writer's open waits until
#    make-img lets go, and make-img, seeing the lease broken, refuses: the EIF must never hold
#    bytes other than those whose digest was checked. (A writer arriving only after make-img's
#    last read is harmless: then the EIF must be the clean one.)
mkdir race && head -c 128M /dev/urandom > race/big && echo original > race/small
layer_tar race.tar race .
oci_image race-layout "$(image_config '{"Cmd":["/small"]}' race.tar)" latest tar:race.tar >/dev/null
"$QT_VMM" enclave make-img --docker-uri oci:race-layout --eif clean.eif --kernel "$KERNEL" > clean.json 2>err || { cat err; fail "make-img of the race image"; }
blob="race-layout/blobs/sha256/$(sha256_of race.tar)"
inode=$(stat -c %i "$blob")
"$QT_VMM" enclave make-img --docker-uri oci:race-layout --eif raced.eif --kernel "$KERNEL" > raced.json 2> raced.err &
builder=$!
leased=false
for _ in $(seq 1000); do   # /proc/locks: "N: LEASE ACTIVE READ <pid> <maj>:<min>:<inode> 0 EOF"
  if grep -Eq "LEASE +ACTIVE +READ +[0-9]+ [0-9a-f]+:[0-9a-f]+:$inode " /proc/locks; then leased=true; break; fi
  kill -0 "$builder" 2>/dev/null || break
  sleep 0.01
done
$leased || { wait "$builder" || true; cat raced.err; fail "make-img never held a lease on the plain layer's blob"; }
printf 'X' | dd of="$blob" bs=1 seek=1000 conv=notrunc status=none &   # waits while the lease is broken
writer=$!
status=0; wait "$builder" || status=$?
wait "$writer" || fail "the writer never got through"
cat raced.err
if [ "$status" -ne 0 ]; then
  expect_contains "$(cat raced.err)" "[IMG_BLOB_CHANGED]"
  expect_contains "$(cat raced.err)" "was opened for writing while the image was built"
  [ ! -e raced.eif ] || fail "an EIF was written although its layer changed during the build"
else
  echo "the writer came after make-img's last read: the EIF must be the clean one"
  expect_eq "$(jq -r .PCR2 raced.json)" "$(jq -r .PCR2 clean.json)" "PCR2 of the raced build"
fi
# The writer really changed the blob: its digest no longer matches.
expect_refused 3 IMG_BLOB_DIGEST_MISMATCH oci:race-layout
echo PASS
