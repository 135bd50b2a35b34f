#!/usr/bin/env bash
# The architecture through the CLI, without an arm64 toolchain: make-img --arch (both spellings,
# a bad name), a multi-platform OCI index resolved to linux/amd64 or linux/arm64, the EIF header
# flag and describe-eif's Arch (json and tsv), the mismatch errors (kernel, init, app, image
# config: one line, nothing written), and `enclave start` of an aarch64 EIF on this x86_64 host:
# under KVM EIF_ARCH_MISMATCH, under --accel tcg without qemu-system-aarch64 QEMU_MISSING, each
# before anything is taken (no run-dir record, no daemon). The arm64 kernel and init here are
# stand-ins with the right headers: make-img only packs them (tcg_arm64.sh boots real ones).
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
[ "$(uname -m)" = x86_64 ] || skip "written for an x86_64 host: its stand-ins are the other architecture's"
need_kernel
command -v jq >/dev/null || fail "jq missing; run scripts/install-deps.sh"
[ -x "$BUILD/guest/init" ] && [ -x "$BUILD/guest/app_echo_env" ] || fail "guest init/app missing; run make"
cd "$TEST_TMP"
export QT_VMM_RUN_DIR="$TEST_TMP/run"
export SOURCE_DATE_EPOCH=1700000000   # reproducible images: the same inputs give the same bytes
mkdir -p "$QT_VMM_RUN_DIR"

# Stand-ins: an arm64 Image header ("ARM\x64" at 0x38) and an aarch64 ELF header (e_machine 183).
{ head -c 56 /dev/zero; printf 'ARM\x64'; head -c 4096 /dev/urandom; } > Image
{ printf '\x7fELF\x02\x01\x01'; head -c 11 /dev/zero; printf '\xb7\x00'; head -c 4096 /dev/zero; } > init-arm64
chmod 0755 init-arm64
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
expect_eq "$(elf_machine init-arm64)" 183 "stand-in init's e_machine"
expect_eq "$(elf_machine "$BUILD/guest/init")" 62 "x86_64 init's e_machine"
export QT_VMM_INIT_AARCH64="$TEST_TMP/init-arm64"
flags_of() { od -An -tu1 -j6 -N2 "$1" | awk '{print $1 * 256 + $2}'; }

# One app per platform: the x86_64 test app, and the stand-in aarch64 ELF as the arm64 one.
mkdir -p amd/bin arm/bin
cp "$BUILD/guest/app_echo_env" amd/bin/app
cp init-arm64 arm/bin/app
layer_tar amd.tar amd .
layer_tar arm.tar arm .
amd_m=$(oci_image multi "$(image_config '{"Cmd":["/bin/app","amd"]}' amd.tar)" amd tar:amd.tar)
arm_m=$(IMAGE_ARCH=arm64 oci_image multi "$(IMAGE_ARCH=arm64 image_config '{"Cmd":["/bin/app","arm"]}' arm.tar)" arm tar:arm.tar)
size_of() { stat -c %s "multi/blobs/sha256/${1#sha256:}"; }
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}' \
  "$amd_m" "$(size_of "$amd_m")" "$arm_m" "$(size_of "$arm_m")" > idx.json
read -r idd ids < <(oci_blob multi idx.json)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' "$idd" "$ids" > multi/index.json

# 1. The same index, each architecture: the right image, the right flag, describe-eif's Arch.
"$QT_VMM" enclave make-img --docker-uri oci:multi --eif amd.eif --kernel "$KERNEL" >/dev/null 2>amd.log || { cat amd.log; fail "make-img (host arch)"; }
expect_contains "$(cat amd.log)" "Selecting linux/amd64"
for spelling in arm64 aarch64; do
  "$QT_VMM" enclave make-img --docker-uri oci:multi --eif "arm-$spelling.eif" --arch "$spelling" --kernel Image >/dev/null 2>arm.log \
    || { cat arm.log; fail "make-img --arch $spelling"; }
  expect_contains "$(cat arm.log)" "Selecting linux/arm64"
done
cmp arm-arm64.eif arm-aarch64.eif || fail "--arch arm64 and --arch aarch64 built different images"
"$QT_VMM" enclave make-img --docker-uri oci:multi --eif amd64.eif --arch amd64 --kernel "$KERNEL" >/dev/null 2>&1 || fail "make-img --arch amd64"
cmp amd.eif amd64.eif || fail "--arch amd64 differs from the default on this x86_64 host"
expect_eq "$(flags_of amd.eif)" 0 "x86_64 EIF header flags"
expect_eq "$(flags_of arm-arm64.eif)" 1 "aarch64 EIF header flags"
eif_unpack_ramdisk arm-arm64.eif 1 arm-rd
expect_eq "$(cat arm-rd/cmd)" "$(printf '/bin/app\narm')" "arm64 image's cmd"
eif_unpack_ramdisk amd.eif 1 amd-rd
expect_eq "$(cat amd-rd/cmd)" "$(printf '/bin/app\namd')" "amd64 image's cmd"
expect_eq "$("$QT_VMM" enclave describe-eif --eif arm-arm64.eif | jq -r .Arch)" aarch64 "describe-eif Arch"
expect_eq "$("$QT_VMM" enclave describe-eif --eif amd.eif | jq -r .Arch)" x86_64 "describe-eif Arch"
expect_eq "$("$QT_VMM" --query Arch --output tsv enclave describe-eif --eif arm-arm64.eif)" aarch64 "describe-eif --query Arch"

# 2. Mismatches: one line each, exit 2/3, nothing written.
expect_cli_error 2 IMG_BAD_ARCH "$QT_VMM" enclave make-img --docker-uri oci:multi --eif bad.eif --arch riscv64 --kernel Image
expect_contains "$(cat err.txt)" "use x86_64 (or amd64) or arm64 (or aarch64)"
expect_cli_error 3 IMG_KERNEL_ARCH "$QT_VMM" enclave make-img --docker-uri oci:multi --eif bad.eif --arch arm64 --kernel "$KERNEL"
expect_contains "$(cat err.txt)" "is an x86_64 bzImage but the image is for aarch64"
expect_cli_error 3 IMG_KERNEL_ARCH "$QT_VMM" enclave make-img --docker-uri oci:multi --eif bad.eif --kernel Image
QT_VMM_INIT_AARCH64="$BUILD/guest/init" expect_cli_error 3 IMG_INIT_ARCH "$QT_VMM" enclave make-img --docker-uri oci:multi --eif bad.eif --arch arm64 --kernel Image
expect_contains "$(cat err.txt)" "is an x86_64 ELF but the image is for aarch64"
# A single-arch arm64 image built for the host's x86_64, and an arm64 config whose app is x86_64.
IMAGE_ARCH=arm64 oci_image armonly "$(IMAGE_ARCH=arm64 image_config '{"Cmd":["/bin/app"]}' arm.tar)" latest tar:arm.tar >/dev/null
expect_cli_error 3 IMG_ARCH_MISMATCH "$QT_VMM" --only-show-errors enclave make-img --docker-uri oci:armonly --eif bad.eif --kernel "$KERNEL"
expect_contains "$(cat err.txt)" "pass --arch arm64"
IMAGE_ARCH=arm64 oci_image lying "$(IMAGE_ARCH=arm64 image_config '{"Cmd":["/bin/app"]}' amd.tar)" latest tar:amd.tar >/dev/null
expect_cli_error 3 IMG_APP_ARCH "$QT_VMM" --only-show-errors enclave make-img --docker-uri oci:lying --eif bad.eif --arch arm64 --kernel Image
expect_contains "$(cat err.txt)" "the app's entry binary '/bin/app' is an x86_64 ELF"
[ ! -e bad.eif ] || fail "a refused make-img left bad.eif behind"

# 3. start: an aarch64 EIF on this x86_64 host.
expect_cli_error 3 EIF_ARCH_MISMATCH "$QT_VMM" enclave start --eif arm-arm64.eif --cpus 1 --mem 256 --allow-shared-cpus
expect_contains "$(cat err.txt)" "is an aarch64 enclave image but KVM on this x86_64 host runs only x86_64 enclaves; start it with --accel tcg"
QT_VMM_QEMU_AARCH64=/nonexistent/qemu-system-aarch64 expect_cli_error 8 QEMU_MISSING \
  "$QT_VMM" enclave start --accel tcg --eif arm-arm64.eif --cpus 1 --mem 256
expect_contains "$(cat err.txt)" "qemu-system-arm"
expect_eq "$(ls -A "$QT_VMM_RUN_DIR" | grep -v -E '^(lock|\.lock)$' || true)" "" "run directory after refused starts"
echo PASS
