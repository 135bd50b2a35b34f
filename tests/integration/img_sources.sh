#!/usr/bin/env bash
# make-img reads the same image from every daemon-less source — OCI layout (gzip layers), OCI
# archive, docker-archive (classic and docker ≥ 25 layouts, plain and gzip-compressed), and a
# NAME exported through a (stand-in) docker CLI — and gets the same application ramdisk (PCR2)
# from each. Also: tag and linux/amd64 selection, and clear errors for a missing source, a
# tampered blob, a path escaping the archive, no container engine / no daemon.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
need_kernel
mklayer="$TOP/tools/image/testdata/make_layer.py"
cd "$TEST_TMP"
export SOURCE_DATE_EPOCH=0

"$mklayer" base.tar <<'SPEC'
dir bin 0755 0 0
file bin/hello 0755 0 0 #!/bin/sh
file etc/motd 0644 0 0 base
SPEC
"$mklayer" top.tar <<'SPEC'
file etc/.wh.motd 0644 0 0
file etc/app.conf 0600 1000 1000 top
symlink bin/hi hello
SPEC
config=$(image_config '{"Cmd":["/bin/hello","world"],"Env":["A=1"]}' base.tar top.tar)

make_img() { # SOURCE OUT [extra args] → prints the JSON result; stderr kept in $TEST_TMP/err
  "$QT_VMM" enclave make-img --docker-uri "$1" --eif "$2" --kernel "$KERNEL" "${@:3}" 2>"$TEST_TMP/err"
}
pcr2() { jq -r .PCR2 <<<"$1"; }
# Runs a failing make-img (with PATH=$ENGINE_PATH if set); checks the exit status, the error code and that no EIF appeared.
expect_error() { # STATUS CODE SOURCE [extra args]
  local status=0 out
  out=$(PATH="${ENGINE_PATH:-$PATH}" "$QT_VMM" enclave make-img --docker-uri "$3" --eif bad.eif --kernel "$KERNEL" "${@:4}" 2>&1) || status=$?
  echo "$out"
  [ "$status" -eq "$1" ] || fail "expected exit $1 for $3, got $status: $out"
  expect_contains "$out" "[$2]"
  [ ! -e bad.eif ] || fail "an EIF was written although make-img failed"
  LAST_ERROR=$out
}

# 1. OCI layout, gzip layers.
gzip -n -c base.tar > base.tar.gz; gzip -n -c top.tar > top.tar.gz
oci_image layout "$config" latest gzip:base.tar.gz gzip:top.tar.gz >/dev/null
ref=$(make_img oci:layout oci.eif) || { cat err; fail "oci layout"; }
expect_contains "$(cat err)" "Reading OCI image layout layout"
want=$(pcr2 "$ref")

# 2. OCI archive (a tar of the layout), with and without tag.
tar -C layout -cf layout.tar .
[ "$(pcr2 "$(make_img oci-archive:layout.tar ociar.eif)")" = "$want" ] || fail "oci-archive gives another PCR2"
[ "$(pcr2 "$(make_img oci-archive:layout.tar:latest ociar2.eif)")" = "$want" ] || fail "oci-archive:FILE:TAG gives another PCR2"

# 3. docker-archive, classic layout; the image name comes from RepoTags.
docker_archive saved.tar "$config" "registry.example:5000/team/app:1.2" base.tar top.tar
[ "$(pcr2 "$(make_img docker-archive:saved.tar da.eif)")" = "$want" ] || fail "docker-archive gives another PCR2"
[ "$(jq -r .ImageName <<<"$("$QT_VMM" enclave describe-eif --eif da.eif)")" = "registry.example:5000/team/app" ] || fail "ImageName from RepoTags"
[ "$(pcr2 "$(make_img docker-archive:saved.tar:registry.example:5000/team/app:1.2 da2.eif)")" = "$want" ] || fail "docker-archive:FILE:REF"

# 4. gzip-compressed docker archive (`docker save | gzip`).
gzip -n -c saved.tar > saved.tar.gz
[ "$(pcr2 "$(make_img docker-archive:saved.tar.gz dagz.eif)")" = "$want" ] || fail "gzip docker-archive gives another PCR2"

# 5. docker >= 25 layout: blobs/sha256 + manifest.json naming them, legacy names as symlinks.
mkdir d25; printf '%s' "$config" > c.json
for f in c.json base.tar top.tar; do oci_blob d25 "$f" >/dev/null; done
ch=$(sha256_of c.json) bh=$(sha256_of base.tar) th=$(sha256_of top.tar)
mkdir -p "d25/$bh"; ln -s "../blobs/sha256/$bh" "d25/$bh/layer.tar"
printf '[{"Config":"blobs/sha256/%s","RepoTags":["app:25"],"Layers":["%s/layer.tar","blobs/sha256/%s"]}]' "$ch" "$bh" "$th" > d25/manifest.json
tar -C d25 -cf d25.tar .
[ "$(pcr2 "$(make_img docker-archive:d25.tar d25.eif)")" = "$want" ] || fail "docker 25 archive gives another PCR2"

# 6. NAME[:TAG] through a docker CLI (a stand-in that saves the archive above), no podman.
mkdir fakebin
printf '#!/bin/sh\n[ "$1" = save ] && [ "$2" = -- ] && [ "$3" = app:25 ] && exec /bin/cat %s/saved.tar\necho "Error: No such image: $3" >&2; exit 1\n' "$TEST_TMP" > fakebin/docker
chmod +x fakebin/docker
out=$(PATH="$TEST_TMP/fakebin" "$QT_VMM" enclave make-img --docker-uri app:25 --eif name.eif --kernel "$KERNEL" 2>err) || { cat err; fail "plain name via docker save"; }
[ "$(pcr2 "$out")" = "$want" ] || fail "plain name gives another PCR2"
expect_contains "$(cat err)" "Exporting app:25 with \`docker save\`"
[ "$(jq -r .ImageName <<<"$("$QT_VMM" enclave describe-eif --eif name.eif)")" = app ] || fail "ImageName of a plain name"

# 7. No daemon: a docker CLI that cannot reach it, and no podman → one clear line.
printf '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n' > fakebin/docker
ENGINE_PATH="$TEST_TMP/fakebin" expect_error 8 IMG_NO_CONTAINER_ENGINE nginx:latest
expect_contains "$LAST_ERROR" "docker: the daemon is unreachable"
expect_contains "$LAST_ERROR" "podman: not installed"
expect_contains "$LAST_ERROR" "docker-archive:FILE"
expect_contains "$LAST_ERROR" "oci:DIR"
# The docker on this host (if any) has no daemon running either.
if command -v docker >/dev/null && ! docker info >/dev/null 2>&1; then
  expect_error 8 IMG_NO_CONTAINER_ENGINE nginx:latest
  expect_contains "$LAST_ERROR" "docker: the daemon is unreachable"
fi
rm -f fakebin/docker
ENGINE_PATH="$TEST_TMP/fakebin" expect_error 8 IMG_NO_CONTAINER_ENGINE nginx:latest
expect_contains "$LAST_ERROR" "docker: not installed; podman: not installed"

# 8. Tag and platform selection in an OCI index.
oci_image tags "$(image_config '{"Cmd":["one"]}' base.tar)" v1 tar:base.tar >/dev/null
oci_image tags "$(image_config '{"Cmd":["two"]}' base.tar)" v2 tar:base.tar >/dev/null
make_img oci:tags:v2 v2.eif >/dev/null || { cat err; fail "oci:DIR:v2"; }
eif_unpack_ramdisk v2.eif 1 v2
[ "$(cat v2/cmd)" = two ] || fail "oci:DIR:v2 picked cmd $(cat v2/cmd)"
expect_error 3 IMG_AMBIGUOUS_IMAGE oci:tags
expect_contains "$LAST_ERROR" "v1, v2"
expect_error 3 IMG_TAG_NOT_FOUND oci:tags:v3
arm=$(oci_image multi "$(image_config '{"Cmd":["arm"]}' base.tar | sed 's/amd64/arm64/')" arm tar:base.tar)
amd=$(oci_image multi "$(image_config '{"Cmd":["amd"]}' base.tar)" amd tar:base.tar)
size_of() { stat -c %s "multi/blobs/sha256/${1#sha256:}"; }
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"arm64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"amd64"}}]}' \
  "$arm" "$(size_of "$arm")" "$amd" "$(size_of "$amd")" > idx.json
read -r idd ids < <(oci_blob multi idx.json)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' "$idd" "$ids" > multi/index.json
make_img oci:multi multi.eif >/dev/null || { cat err; fail "multi-platform index"; }
eif_unpack_ramdisk multi.eif 1 multi-rd
[ "$(cat multi-rd/cmd)" = amd ] || fail "multi-platform index picked $(cat multi-rd/cmd)"

# 9. Errors: missing sources, tampered blobs, escaping paths, nothing to run.
expect_error 8 IMG_SOURCE_NOT_FOUND oci:"$TEST_TMP/no-such-dir"
expect_error 8 IMG_SOURCE_NOT_FOUND docker-archive:"$TEST_TMP/no-such.tar"
expect_error 3 IMG_NOT_OCI_LAYOUT oci:"$TEST_TMP/fakebin"
cp -r layout tampered
blob=tampered/blobs/sha256/$(sha256_of top.tar.gz)
printf '\xff' | dd of="$blob" bs=1 seek=40 conv=notrunc status=none   # one byte changed
expect_error 3 IMG_BLOB_DIGEST_MISMATCH oci:tampered
cp -r layout tampered-config
cfgblob=$(ls tampered-config/blobs/sha256/ | while read -r h; do [ "$(jq -r .architecture "tampered-config/blobs/sha256/$h" 2>/dev/null)" = amd64 ] && echo "$h" || true; done)
sed -i 's/world/WORLD/' "tampered-config/blobs/sha256/$cfgblob"
expect_error 3 IMG_BLOB_DIGEST_MISMATCH oci:tampered-config
# Plain tar layers are read in place and their digests checked while the EIF is written: a changed
# byte of file data (the tar still valid) or of a header (the tar damaged) is refused all the same.
oci_image plain-tampered "$config" latest tar:base.tar tar:top.tar >/dev/null
cp -r plain-tampered plain-header
data_at=$(python3 -c 'import sys, tarfile; print([m.offset_data for m in tarfile.open(sys.argv[1]) if m.name.endswith("app.conf")][0])' top.tar)
printf 'J' | dd of="plain-tampered/blobs/sha256/$(sha256_of top.tar)" bs=1 seek="$data_at" conv=notrunc status=none
expect_error 3 IMG_BLOB_DIGEST_MISMATCH oci:plain-tampered
expect_contains "$LAST_ERROR" "layer 2 ("
printf '\xff\xff' | dd of="plain-header/blobs/sha256/$(sha256_of base.tar)" bs=1 seek=148 conv=notrunc status=none   # header checksum
expect_error 3 IMG_BLOB_DIGEST_MISMATCH oci:plain-header
expect_contains "$LAST_ERROR" "layer 1 ("
mkdir esc; tar -xf saved.tar -C esc
jq -c '.[0].Layers[0] = "../../etc/passwd"' esc/manifest.json > esc/m && mv esc/m esc/manifest.json
tar -C esc -cf esc.tar .
expect_error 3 IMG_LAYER_PATH_ESCAPE docker-archive:esc.tar
printf '%s\n' "file ../evil 0644 0 0 x" | "$mklayer" evil.tar
oci_image evil "$(image_config '{"Cmd":["x"]}' evil.tar)" latest tar:evil.tar >/dev/null
expect_error 3 IMG_LAYER_PATH_ESCAPE oci:evil
oci_image nocmd "$(image_config '{"Env":["A=1"]}' base.tar)" latest tar:base.tar >/dev/null
expect_error 3 IMG_NO_COMMAND oci:nocmd
expect_contains "$LAST_ERROR" "neither Entrypoint nor Cmd"
# No scratch or temp files were left next to the outputs.
leftovers=$(find . -maxdepth 1 -name '*.tmp-*' -o -maxdepth 1 -name '.qt-vmm-scratch-*')
[ -z "$leftovers" ] || fail "left behind: $leftovers"
echo PASS
