#!/usr/bin/env bash
# End to end: a two-layer OCI image (the static test app, /etc/passwd, a whiteout, a symlinked
# bin dir) → make-img → the EIF's own kernel, cmdline and ramdisks booted under QEMU TCG with the
# real guest init, which must run Entrypoint+Cmd with the image's Env, WorkingDir and User.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
need_kernel
need_qemu
[ -x "$BUILD/guest/init" ] && [ -x "$BUILD/guest/app_echo_env" ] || fail "guest init/app missing; run make"
mklayer="$TOP/tools/image/testdata/make_layer.py"
cd "$TEST_TMP"

mkdir -p l1/opt/app/bin l1/etc l1/home/app l1/srv
cp "$BUILD/guest/app_echo_env" l1/opt/app/bin/echo-env
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'app:x:1000:1000:App:/home/app:/bin/sh' > l1/etc/passwd
printf '%s\n' 'root:x:0:' 'app:x:1000:' > l1/etc/group
echo stale > l1/srv/stale
layer_tar l1.tar l1 .
"$mklayer" l2.tar <<'SPEC'
file srv/.wh.stale 0644 0 0
dir srv/data 0755 1000 1000
symlink usr-bin opt/app/bin
SPEC
gzip -n -c l1.tar > l1.tar.gz
config=$(image_config '{"Entrypoint":["echo-env","--exit=5"],"Cmd":["hello world",""],"Env":["PATH=/usr-bin:/bin","GREETING=hi there"],"WorkingDir":"/srv/data","User":"app"}' l1.tar l2.tar)
oci_image layout "$config" latest gzip:l1.tar.gz tar:l2.tar >/dev/null
"$QT_VMM" enclave make-img --docker-uri oci:layout --eif app.eif --kernel "$KERNEL" >pcrs.json || fail "make-img"

eif_section app.eif 1 0 kernel.bin
eif_section app.eif 2 0 cmdline.txt
eif_section app.eif 3 0 rd0.cpio
eif_section app.eif 3 1 rd1.cpio
cat rd0.cpio rd1.cpio > initrd.cpio
export -f qemu_tcg
rc=0
out=$(timeout 180 bash -c 'qemu_tcg "$@"' _ kernel.bin initrd.cpio "$(cat cmdline.txt)" -device i8042 2>&1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "QEMU did not end by itself (exit $rc)"
expect_not_contains "$out" "Kernel panic"
expect_contains "$out" "ECHO argc=4"
expect_contains "$out" "ECHO argv[0]=<echo-env>"
expect_contains "$out" "ECHO argv[1]=<--exit=5>"
expect_contains "$out" "ECHO argv[2]=<hello world>"
expect_contains "$out" "ECHO argv[3]=<>"
expect_contains "$out" "ECHO env <GREETING=hi there>"
expect_contains "$out" "ECHO env <PATH=/usr-bin:/bin>"
expect_contains "$out" "ECHO cwd=/srv/data"
expect_contains "$out" "ECHO uid=1000 gid=1000"
expect_contains "$out" "ECHO done exit=5"
expect_contains "$out" "app exited with status 5"
echo PASS
