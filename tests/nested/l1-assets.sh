#!/usr/bin/env bash
# tests/nested/l1-assets.sh — the L1 system of the nested-KVM test tier: Debian's own amd64 kernel
# (linux-image-*-amd64, fetched with apt-get download, never from elsewhere) and a small initramfs
# (busybox-static, the kernel modules L1 needs, tests/nested/l1-init). Cached outside the tree:
#
#   tests/nested/l1-assets.sh            fetch/build if needed; prints "KERNEL=..." and "INITRD=..."
#   tests/nested/l1-assets.sh --check    exit 0 if it can work here (tools present), else say why
#
# Cache: ${QT_VMM_CACHE:-~/.cache/qt-vmm}/nested/x86_64/<package>_<version>/ holds the unpacked
# package (vmlinuz, modules) and initrd-<key>.cpio.gz, where <key> hashes the init script and
# the module list. The package is the one `linux-image-amd64` depends on today; when apt cannot
# answer (no network, no lists) the newest cached one is used.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root="${QT_VMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qt-vmm}/nested/x86_64"
# Loaded in this order by l1-init (each after its dependencies, resolved from modules.dep):
# the virtio-pci transport, 9p over virtio (the host's root, read-only), overlayfs (a writable
# layer in L1's RAM on top of it), KVM for AMD SVM (what QEMU's -cpu max emulates) and
# vhost-vsock (QEMU's vsock device in L1, for the nested benchmark's baseline).
modules=(virtio_pci 9pnet_virtio 9p overlay kvm-amd vhost_vsock)

die() { echo "l1-assets: $*" >&2; exit 1; }

need_tools() {
  local t
  for t in apt-get dpkg-deb depmod cpio gzip; do
    command -v "$t" >/dev/null || die "$t missing; run scripts/install-deps.sh"
  done
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod \
    || die "busybox-static missing; run scripts/install-deps.sh"
}

if [ "${1:-}" = --check ]; then
  need_tools
  exit 0
fi
need_tools
mkdir -p "$cache_root"

# Which package: what linux-image-amd64 depends on now, else the newest one cached.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -nE '0,/^ *Depends: (linux-image-[0-9][^ ]*-amd64)$/s//\1/p' || true)
version=""
[ -n "$pkg" ] && version=$(apt-cache policy "$pkg" 2>/dev/null | sed -nE '0,/^ *Candidate: (.*)$/s//\1/p' || true)
if [ -z "$pkg" ] || [ -z "$version" ] || [ "$version" = "(none)" ]; then
  dir=$(ls -d "$cache_root"/linux-image-*/ 2>/dev/null | sort -V | sed -n '$p' || true)
  [ -n "$dir" ] || die "cannot resolve linux-image-amd64 (run apt-get update) and nothing is cached in $cache_root"
  dir=${dir%/}
else
  dir="$cache_root/${pkg}_${version}"
fi

if [ ! -f "$dir/unpacked/.complete" ]; then
  echo "l1-assets: fetching $pkg $version (Debian archive)" >&2
  tmp=$(mktemp -d "$cache_root/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download writes to the current directory; _apt cannot write into root's cache.
  (cd "$tmp" && apt-get download -q "$pkg=$version" >/dev/null 2>"$tmp/apt.log") \
    || { cat "$tmp/apt.log" >&2; die "apt-get download $pkg=$version failed"; }
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/unpacked"
  kver=$(ls "$tmp/unpacked/lib/modules")
  depmod -b "$tmp/unpacked" "$kver"
  touch "$tmp/unpacked/.complete"
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/unpacked" "$dir/unpacked"
  rm -rf "$tmp"
  trap - EXIT
fi

kver=$(ls "$dir/unpacked/lib/modules")
moddir="$dir/unpacked/lib/modules/$kver"
kernel="$dir/unpacked/boot/vmlinuz-$kver"
[ -f "$kernel" ] || die "$kernel missing from the package"

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

# (No `cmd | head` under pipefail here: a writer cut off by head's exit dies of SIGPIPE, 141.)
key=$( { cat "$here/l1-init"; printf '%s\n' "${order[@]}"; dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true; } \
  | sha256sum | cut -c1-16)
initrd="$dir/initrd-$key.cpio.gz"
if [ ! -f "$initrd" ]; then
  root=$(mktemp -d "$cache_root/.initrd.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,dev,proc,sys,newroot,lower,upper,modules}
  cp /bin/busybox "$root/bin/busybox"
  install -m 0755 "$here/l1-init" "$root/init"
  : > "$root/modules/order"
  for rel in "${order[@]}"; do
    cp "$moddir/$rel" "$root/modules/"
    basename "$rel" >> "$root/modules/order"
  done
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$root"
  trap - EXIT
fi

echo "KERNEL=$kernel"
echo "INITRD=$initrd"
