#!/usr/bin/env bash
# tests/nested/l1-assets.sh — the L1 system of the nested-KVM test tier: Debian's own kernel
# (linux-image-*-amd64 or linux-image-*-arm64, fetched with apt-get download, never from elsewhere)
# and a small initramfs (busybox-static, the kernel modules L1 needs, tests/nested/l1-init).
# Cached outside the tree:
#
#   tests/nested/l1-assets.sh [--arch x86_64|arm64]          fetch/build if needed; prints
#                                                             "KERNEL=..." and "INITRD=..."
#   tests/nested/l1-assets.sh [--arch x86_64|arm64] --check  exit 0 if it can work here, else say why
#
# Cache: ${QT_VMM_CACHE:-~/.cache/qt-vmm}/nested/<arch>/<package>_<version>/ holds the unpacked
# kernel package (vmlinuz, modules) and initrd-<key>.cpio.gz, where <key> hashes the init script,
# the module list and the userland packages' versions; other packages unpack into debs/. The
# kernel is the one linux-image-<flavour> depends on today; when apt cannot answer (no network,
# no lists) the newest cached one is used.
#
# arm64 (an L1 whose userland cannot be the x86 host's): busybox-static:arm64 is the initramfs's
# shell, and the initramfs carries a "shim" that l1-init lays into L1's overlay over the host's
# root: bash:arm64 with its libraries (libtinfo6, libc6: the host's own versions, as multiarch
# wants) at /usr/bin/bash and /usr/bin/sh, and busybox:arm64's applets in /opt/qt-vmm-l1/bin, first
# in PATH. Cross-built arm64 programs in the tree (static, or dynamic against the host's
# /usr/lib/aarch64-linux-gnu) run as they are; the host's x86 programs do not.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
arch=x86_64 check=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --check) check=1; shift ;;
    *) echo "l1-assets: unknown argument $1 (--arch x86_64|arm64, --check)" >&2; exit 2 ;;
  esac
done
# Loaded in this order by l1-init (each after its dependencies, resolved from modules.dep):
# the virtio-pci transport, 9p over virtio (the host's root, read-only), overlayfs (a writable
# layer in L1's RAM on top of it), KVM for AMD SVM (what QEMU's -cpu max emulates; built into
# the arm64 kernel) and vhost-vsock (QEMU's vsock device in L1, for the nested benchmark's baseline).
case "$arch" in
  x86_64) deb_arch=amd64 modules=(virtio_pci 9pnet_virtio 9p overlay kvm-amd vhost_vsock) ;;
  arm64) deb_arch=arm64 modules=(virtio_pci 9pnet_virtio 9p overlay vhost_vsock) ;;
  *) echo "l1-assets: unknown --arch '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
cache_root="${QT_VMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qt-vmm}/nested/$arch"
foreign=0
[ "$deb_arch" = "$(dpkg --print-architecture 2>/dev/null)" ] || foreign=1
qual=""
[ "$foreign" -eq 1 ] && qual=":$deb_arch"

die() { echo "l1-assets: $*" >&2; exit 1; }

need_tools() {
  local t
  for t in apt-get dpkg-deb depmod cpio gzip; do
    command -v "$t" >/dev/null || die "$t missing; run scripts/install-deps.sh"
  done
  if [ "$foreign" -eq 0 ]; then
    [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x insmod >/dev/null \
      || die "busybox-static missing; run scripts/install-deps.sh"
  else
    dpkg --print-foreign-architectures | grep -x "$deb_arch" >/dev/null \
      || die "dpkg does not know the $deb_arch architecture; run scripts/install-deps.sh (dpkg --add-architecture $deb_arch, apt-get update)"
  fi
}

if [ "$check" -eq 1 ]; then
  need_tools
  exit 0
fi
need_tools
mkdir -p "$cache_root"
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

# apt's candidate versions, asked once for every package (apt-cache takes seconds on a busy host).
declare -A candidate=()
ask_candidates() {
  local n v
  while read -r n v; do candidate[$n]=$v; done < <(apt-cache policy "$@" 2>/dev/null \
    | awk '/^[^ ].*:$/ { n = substr($0, 1, length($0) - 1) } /^ *Candidate:/ { print n, $2 }' || true)
}

# unpack_deb DIR NAME VERSION: Debian package NAME (arch-qualified if foreign) at VERSION,
# unpacked into DIR once (modules.dep built when it has kernel modules).
unpack_deb() {
  local dir=$1 name=$2 version=$3 tmp kver
  [ -f "$dir/.complete" ] && return 0
  echo "l1-assets: fetching $name $version (Debian archive)" >&2
  tmp=$(mktemp -d "$cache_root/.fetch.XXXXXX")
  tmps+=("$tmp")
  # apt-get download writes to the current directory; _apt cannot write into root's cache.
  (cd "$tmp" && apt-get download -q "$name=$version" >/dev/null 2>"$tmp/apt.log") \
    || { cat "$tmp/apt.log" >&2; rm -rf "$tmp"; die "apt-get download $name=$version failed"; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/unpacked"
  if [ -d "$tmp/unpacked/lib/modules" ]; then
    kver=$(ls "$tmp/unpacked/lib/modules")
    depmod -b "$tmp/unpacked" "$kver"
  fi
  touch "$tmp/unpacked/.complete"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  mv "$tmp/unpacked" "$dir"
  rm -rf "$tmp"
}

# userland_deb NAME [VERSION]: a userland package unpacked under debs/ (default version: apt's
# candidate; without apt, the newest cached); prints its directory.
userland_deb() {
  local name=$1 version=${2:-} dir
  [ -n "$version" ] || version=${candidate[$name$qual]:-}
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    dir=$(ls -d "$cache_root/debs/${name}_"*/ 2>/dev/null | sort -V | sed -n '$p' || true)
    [ -n "$dir" ] || die "cannot resolve $name$qual (run apt-get update) and nothing is cached in $cache_root/debs"
    echo "${dir%/}"
    return 0
  fi
  unpack_deb "$cache_root/debs/${name}_${version}" "$name$qual" "$version"
  echo "$cache_root/debs/${name}_${version}"
}
host_version() { dpkg-query -W -f='${Version}' "$1:$(dpkg --print-architecture)" 2>/dev/null || true; }

# Which kernel: what linux-image-<flavour> depends on now, else the newest one cached.
pkg=$(apt-cache depends "linux-image-$deb_arch$qual" 2>/dev/null \
  | sed -nE "0,/^ *Depends: (linux-image-[0-9][^ :]*-$deb_arch)(:$deb_arch)?\$/s//\\1/p" || true)
userland=()
[ "$foreign" -eq 1 ] && userland=("busybox-static$qual" "bash$qual")
ask_candidates ${pkg:+"$pkg$qual"} "${userland[@]}"
version=""
[ -n "$pkg" ] && version=${candidate[$pkg$qual]:-}
if [ -z "$pkg" ] || [ -z "$version" ] || [ "$version" = "(none)" ]; then
  dir=$(ls -d "$cache_root"/linux-image-*/ 2>/dev/null | sort -V | sed -n '$p' || true)
  [ -n "$dir" ] || die "cannot resolve linux-image-$deb_arch$qual (run apt-get update) and nothing is cached in $cache_root"
  dir=${dir%/}
else
  dir="$cache_root/${pkg}_${version}"
  unpack_deb "$dir/unpacked" "$pkg$qual" "$version"
fi

kver=$(ls "$dir/unpacked/lib/modules")
moddir="$dir/unpacked/lib/modules/$kver"
kernel="$dir/unpacked/boot/vmlinuz-$kver"
[ -f "$kernel" ] || die "$kernel missing from the package"

# The initramfs's busybox, and for a foreign L1 the userland shim's packages.
shim_debs=()
if [ "$foreign" -eq 0 ]; then
  busybox=/bin/busybox
  userland_key=$(host_version busybox-static)
else
  bb_dir=$(userland_deb busybox-static)
  busybox="$bb_dir/bin/busybox"
  bash_dir=$(userland_deb bash)
  tinfo_dir=$(userland_deb libtinfo6 "$(host_version libtinfo6)")
  libc_dir=$(userland_deb libc6 "$(host_version libc6)")
  shim_debs=("$bash_dir" "$tinfo_dir" "$libc_dir")
  userland_key="$bb_dir ${shim_debs[*]}"
fi

# Module load order: depth-first over modules.dep, each module after what it needs.
declare -A seen=()
order=()
visit() {
  local rel=$1 line dep
  [ -n "${seen[$rel]:-}" ] && return 0
  seen[$rel]=1
  line=$(grep -E "^${rel//./\\.}:" "$moddir/modules.dep") || die "$rel not in modules.dep"
  for dep in ${line#*:}; do visit "$dep"; done
  order+=("$rel")
}
for m in "${modules[@]}"; do
  rel=$(grep -m1 -E "^[^:]*/${m}\.ko:" "$moddir/modules.dep" | cut -d: -f1)
  [ -n "$rel" ] || die "module $m not found in $kver"
  visit "$rel"
done

# shim_copy FROM TO: a package's programs and libraries (no docs, no locale data), with /bin,
# /lib and /sbin folded into /usr where the host's root has them as symlinks (merged /usr):
# an upper-layer directory would hide the host's symlink and all it leads to.
shim_copy() {
  local from=$1 to=$2 d
  for d in bin sbin lib; do
    [ -d "$from/$d" ] || continue
    if [ -L "/$d" ]; then mkdir -p "$to/usr/$d" && cp -a "$from/$d/." "$to/usr/$d/"
    else mkdir -p "$to/$d" && cp -a "$from/$d/." "$to/$d/"; fi
  done
  for d in usr/bin usr/sbin usr/lib; do
    [ -d "$from/$d" ] && mkdir -p "$to/$d" && cp -a "$from/$d/." "$to/$d/"
  done
  rm -rf "$to"/usr/lib/*/gconv
}

# (No `cmd | head` under pipefail here: a writer cut off by head's exit dies of SIGPIPE, 141.)
key=$( { cat "$here/l1-init"; printf '%s\n' "${order[@]}"; echo "$userland_key"; } | sha256sum | cut -c1-16)
initrd="$dir/initrd-$key.cpio.gz"
if [ ! -f "$initrd" ]; then
  root=$(mktemp -d "$cache_root/.initrd.XXXXXX")
  tmps+=("$root")
  mkdir -p "$root"/{bin,dev,proc,sys,newroot,lower,upper,modules}
  cp "$busybox" "$root/bin/busybox"
  install -m 0755 "$here/l1-init" "$root/init"
  : > "$root/modules/order"
  for rel in "${order[@]}"; do
    cp "$moddir/$rel" "$root/modules/"
    basename "$rel" >> "$root/modules/order"
  done
  if [ ${#shim_debs[@]} -gt 0 ]; then
    for d in "${shim_debs[@]}"; do shim_copy "$d" "$root/shim"; done
    bin=usr/bin; [ -L /bin ] || bin=bin
    ln -sf bash "$root/shim/$bin/sh"
    mkdir -p "$root/shim/usr/bin"
    ln -sf /opt/qt-vmm-l1/bin/busybox "$root/shim/usr/bin/env"
  fi
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
fi

echo "KERNEL=$kernel"
echo "INITRD=$initrd"
