#!/usr/bin/env bash
# make-img from a 3-layer OCI image layout (gzip, zstd and plain tar layers) built here from
# real tar files: whiteouts, an opaque directory, a whited-out directory, symlinks (also as a
# parent directory), hardlinks within and across layers, setuid/sticky modes, owners, device
# nodes, a FIFO and pax long names. The app ramdisk is unpacked with the system cpio and compared
# entry by entry; the boot ramdisk must hold dev/ and the guest init byte for byte.
# The same layers stored as plain tars (their files read in place from the leased blobs) and as
# plain tars that a writer holds open (no lease: copied to the scratch file) give the same EIF,
# byte for byte, as the compressed ones.
source "$TOP/tests/lib.sh"
source "$TOP/tools/image/testdata/image_helpers.sh"
need_kernel
mklayer="$TOP/tools/image/testdata/make_layer.py"
cd "$TEST_TMP"

"$mklayer" l1.tar <<'SPEC'
dir ./ 0755 0 0
dir bin 0755 0 0
file bin/app 0755 0 0 version one
file bin/suid 04755 0 0 setuid program
dir etc 0755 0 0
file etc/conf 0640 1000 1001 secret
file etc/keep 0644 0 0 keep me
dir opt 0755 0 0
file opt/old1 0644 0 0 old
dir opt/sub 0700 0 0
file opt/sub/old2 0644 0 0 older
dir var 0755 0 0
dir var/log 0755 0 0
file var/log/x 0644 0 0 log
dir usr 0755 0 0
dir usr/lib 0755 0 0
symlink lib usr/lib
file data-a 0644 0 0 shared data
hardlink data-b data-a
SPEC
"$mklayer" l2.tar <<'SPEC'
file etc/.wh.conf 0644 0 0
file bin/app 0755 0 0 version two
dir opt 0755 0 0
file opt/.wh..wh..opq 0644 0 0
file opt/new 0644 0 0 new
file .wh.var 0644 0 0
hardlink bin/suid-link bin/suid
file lib/libx.so 0755 0 0 via symlinked parent
symlink sbin bin
dir dev 0755 0 0
char dev/zero0 0666 1 5
dir run 0755 0 0
fifo run/pipe 0600
dir tmp 01777 0 0
SPEC
long="deep/$(printf 'd%.0s' {1..60})/$(printf 'f%.0s' {1..80})"
mkdir -p "l3/$(dirname "$long")"
echo "long name" > "l3/$long"
chmod 0600 "l3/$long"
ln "l3/$long" l3/deep/hard
layer_tar l3.tar l3 deep

gzip -n -9 -c l1.tar > l1.tar.gz
zstd -q -19 -c l2.tar > l2.tar.zst
config=$(image_config '{"Entrypoint":["/bin/app"],"Cmd":["--flag","two words"],"Env":["PATH=/bin:/usr/bin","X=1"],"WorkingDir":"/opt","User":"1000:1000"}' l1.tar l2.tar l3.tar)
oci_image myapp "$config" v1 gzip:l1.tar.gz zstd:l2.tar.zst tar:l3.tar >/dev/null

export SOURCE_DATE_EPOCH=1700000000
out=$("$QT_VMM" enclave make-img --docker-uri oci:myapp:v1 --eif app.eif --kernel "$KERNEL" 2>err.txt) || { cat err.txt; fail "make-img failed"; }
cat err.txt
expect_contains "$(cat err.txt)" "Start building the Enclave Image"
[ -s app.eif ] || fail "no EIF written"
for k in PCR0 PCR1 PCR2; do
  [ "$(jq -r .$k <<<"$out" | tr -d '0-9a-f' | wc -c)" -eq 1 ] && [ "$(jq -r .$k <<<"$out" | wc -c)" -eq 97 ] || fail "$k is not 96 hex digits: $out"
done
[ "$(jq -r .digest <<<"$out")" = SHA384 ] || fail "digest field: $out"
[ "$(jq 'has("PCR8")' <<<"$out")" = false ] || fail "unsigned image has PCR8"

# The EIF's own view of itself agrees.
desc=$("$QT_VMM" enclave describe-eif --eif app.eif)
[ "$(jq -r .Measurements.PCR0 <<<"$desc")" = "$(jq -r .PCR0 <<<"$out")" ] || fail "describe-eif PCR0 differs"
[ "$(jq -r .Measurements.PCR2 <<<"$desc")" = "$(jq -r .PCR2 <<<"$out")" ] || fail "describe-eif PCR2 differs"
[ "$(jq -r .CheckCRC <<<"$desc")" = true ] || fail "CRC check failed: $desc"
[ "$(jq -r .ImageName <<<"$desc")" = myapp ] || fail "ImageName: $desc"
cfg_hex=$(sha256sum myapp/blobs/sha256/* | while read -r h f; do [ "$(jq -r .architecture "$f" 2>/dev/null)" = amd64 ] && echo "$h" || true; done)
[ "$(jq -r .ImageVersion <<<"$desc")" = "$cfg_hex" ] || fail "ImageVersion is not the config digest: $desc"
[ "$(jq -r .Metadata.BuildTime <<<"$desc")" = "2023-11-14T22:13:20+00:00" ] || fail "BuildTime does not follow SOURCE_DATE_EPOCH: $desc"
[ "$(jq -r .Metadata.DockerInfo.config.WorkingDir <<<"$desc")" = /opt ] || fail "DockerInfo is not the image config: $desc"

# Ramdisk 0: dev/ and the init.
eif_unpack_ramdisk app.eif 0 rd0
[ "$(cd rd0 && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./dev ./init " ] || fail "ramdisk 0 holds: $(cd rd0 && find .)"
cmp rd0/init "$BUILD/guest/init" || fail "ramdisk 0 init differs from $BUILD/guest/init"
[ "$(stat -c %a rd0/init)" = 755 ] || fail "init mode $(stat -c %a rd0/init)"

# Ramdisk 1: launch files and the merged tree.
eif_unpack_ramdisk app.eif 1 rd1
[ "$(cat rd1/cmd)" = "$(printf '/bin/app\n--flag\ntwo words')" ] || fail "cmd: $(cat rd1/cmd)"
[ "$(cat rd1/env)" = "$(printf 'PATH=/bin:/usr/bin\nX=1')" ] || fail "env: $(cat rd1/env)"
[ "$(cat rd1/workdir)" = /opt ] || fail "workdir: $(cat rd1/workdir)"
[ "$(cat rd1/user)" = 1000:1000 ] || fail "user: $(cat rd1/user)"
[ "$(stat -c %a rd1/cmd rd1/env | sort -u)" = 644 ] || fail "cmd/env modes"

expected="bin drwxr-xr-x 0:0 d 
bin/app -rwxr-xr-x 0:0 f11 
bin/suid -rwsr-xr-x 0:0 f14 
bin/suid-link -rwsr-xr-x 0:0 f14 
data-a -rw-r--r-- 0:0 f11 
data-b -rw-r--r-- 0:0 f11 
deep drwxr-xr-x 0:0 d 
deep/$(dirname "${long#deep/}") drwxr-xr-x 0:0 d 
$long -rw------- 0:0 f10 
deep/hard -rw------- 0:0 f10 
dev drwxr-xr-x 0:0 d 
dev/zero0 crw-rw-rw- 0:0 c0 
etc drwxr-xr-x 0:0 d 
etc/keep -rw-r--r-- 0:0 f7 
lib lrwxrwxrwx 0:0 l7 usr/lib
opt drwxr-xr-x 0:0 d 
opt/new -rw-r--r-- 0:0 f3 
proc drwxr-xr-x 0:0 d 
run drwxr-xr-x 0:0 d 
run/pipe prw------- 0:0 p0 
sbin lrwxrwxrwx 0:0 l3 bin
sys drwxr-xr-x 0:0 d 
tmp drwxrwxrwt 0:0 d 
usr drwxr-xr-x 0:0 d 
usr/lib drwxr-xr-x 0:0 d 
usr/lib/libx.so -rwxr-xr-x 0:0 f20 
var drwxr-xr-x 0:0 d "
actual=$(tree_listing rd1/rootfs)
if [ "$actual" != "$(LC_ALL=C sort <<<"$expected")" ]; then
  diff <(LC_ALL=C sort <<<"$expected") <(echo "$actual") || true
  fail "merged tree differs from the expected one"
fi
[ "$(cat rd1/rootfs/bin/app)" = "version two" ] || fail "bin/app not replaced by layer 2"
[ "$(cat rd1/rootfs/$long)" = "long name" ] || fail "long-named file content"
[ "$(cat rd1/rootfs/data-b)" = "shared data" ] || fail "hardlinked data lost"
same_inode() { [ "$(stat -c %i "$1")" = "$(stat -c %i "$2")" ] && [ "$(stat -c %h "$1")" = 2 ] || fail "$1 and $2 are not one inode with 2 links"; }
same_inode rd1/rootfs/data-a rd1/rootfs/data-b
same_inode rd1/rootfs/bin/suid rd1/rootfs/bin/suid-link
same_inode "rd1/rootfs/$long" rd1/rootfs/deep/hard
# The root of the image keeps its mode, and the owner from layer 1 (1000:1001) went with etc/conf.
[ "$(stat -c %a rd1/rootfs)" = 755 ] || fail "rootfs mode"
[ ! -e rd1/rootfs/etc/conf ] || fail "etc/conf survived its whiteout"
[ "$(stat -c %Y rd1/rootfs/etc/keep)" = 1700000000 ] || fail "mtime is not SOURCE_DATE_EPOCH"

# Owners survive (listing with numeric ids straight from the archive, independent of extraction).
eif_section app.eif 3 1 rd1.cpio
cpio -itv --numeric-uid-gid --quiet < rd1.cpio > listing.txt
grep -qE '^-rw-r--r-- +1 0 +0 .*rootfs/opt/new$' listing.txt || fail "opt/new owner/mode in cpio listing"
grep -q 'rootfs/opt/old1' listing.txt && fail "opaque directory kept lower-layer opt/old1"
"$mklayer" owners.tar <<'SPEC'
file owned 0640 1234 5678 x
SPEC
oci_image owned "$(image_config '{"Cmd":["/owned"]}' owners.tar)" latest tar:owners.tar >/dev/null
"$QT_VMM" enclave make-img --docker-uri oci:owned --eif owned.eif --kernel "$KERNEL" >/dev/null 2>&1 || fail "make-img owned"
eif_section owned.eif 3 1 owned.cpio
cpio -itv --numeric-uid-gid --quiet < owned.cpio | grep -E '^-rw-r----- +1 1234 +5678 .*rootfs/owned$' >/dev/null || fail "uid/gid not kept: $(cpio -itv --numeric-uid-gid < owned.cpio)"

# In place, copied, compressed: one EIF. (The manifest differs; the config, so the metadata, does
# not; --name because the image name defaults to the layout's.)
oci_image plain "$config" v1 tar:l1.tar tar:l2.tar tar:l3.tar >/dev/null
"$QT_VMM" enclave make-img --docker-uri oci:plain:v1 --name myapp --eif plain.eif --kernel "$KERNEL" >/dev/null 2>err.txt || { cat err.txt; fail "make-img of the plain layers failed"; }
cmp app.eif plain.eif || fail "plain layers read in place give another EIF than the compressed ones"
exec 7>>"plain/blobs/sha256/$(sha256_of l1.tar)" 8>>"plain/blobs/sha256/$(sha256_of l3.tar)"   # writers: no lease on l1 and l3
grep -q "LEASE" /proc/locks && fail "a lease is held before make-img runs: $(grep LEASE /proc/locks)"
"$QT_VMM" enclave make-img --docker-uri oci:plain:v1 --name myapp --eif copied.eif --kernel "$KERNEL" >/dev/null 2>err.txt || { cat err.txt; fail "make-img with blobs held open for writing failed"; }
exec 7>&- 8>&-
cmp app.eif copied.eif || fail "plain layers copied to the scratch file give another EIF"
echo "PASS"
