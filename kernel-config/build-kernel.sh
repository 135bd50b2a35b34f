#!/usr/bin/env bash
# Builds the qt-vmm guest kernel from Debian's linux-source-6.12 and the fragment beside this script.
#
#   kernel-config/build-kernel.sh            build (or reuse) and print the cache directory
#   kernel-config/build-kernel.sh --path     print the cached bzImage path; exit 1 if not built
#
# Output, in ${QT_VMM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/qt-vmm}/kernel/<key>/:
#   bzImage (LZ4, what EIFs carry), vmlinux (PVH-bootable, uncompressed), config.
# <key> hashes the fragment, this script, the source package version and the compiler version, so
# a second run with nothing changed returns at once. The build is reproducible (fixed timestamp,
# user and host) and published atomically (built in a temp dir, then renamed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fragment="$here/qt-vmm.config"
tarball=/usr/src/linux-source-6.12.tar.xz
cache_root="${QT_VMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qt-vmm}/kernel"

die() { echo "build-kernel: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball not found; run scripts/install-deps.sh (package linux-source-6.12)"
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) \
  || die "package linux-source-6.12 is not installed; run scripts/install-deps.sh"
cc_version=$(gcc --version | head -n1)
key=$( { cat "$fragment" "$0"; echo "$src_version"; echo "$cc_version"; } | sha256sum | cut -c1-16)
out="$cache_root/$key"

if [ "${1:-}" = "--path" ]; then
  [ -f "$out/bzImage" ] || die "kernel not built yet (key $key); run: make kernel"
  echo "$out/bzImage"
  exit 0
fi

if [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ]; then
  echo "build-kernel: up to date: $out/bzImage ($(stat -c %s "$out/bzImage") bytes)"
  exit 0
fi

mkdir -p "$cache_root"
src="$cache_root/src-$src_version"
if [ ! -f "$src/Makefile" ]; then
  echo "build-kernel: unpacking $tarball"
  tmp_src=$(mktemp -d "$cache_root/.src.XXXXXX")
  tar -xJf "$tarball" -C "$tmp_src" --strip-components=1
  rm -rf "$src"
  mv "$tmp_src" "$src"
fi

work=$(mktemp -d "$cache_root/.build-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
obj="$work/obj"
mkdir -p "$obj"

export KBUILD_BUILD_TIMESTAMP="2024-01-01 00:00:00 UTC" KBUILD_BUILD_USER=qt-vmm KBUILD_BUILD_HOST=qt-vmm
kmake() { make -s -C "$src" O="$obj" ARCH=x86_64 "$@"; }

echo "build-kernel: configuring (tinyconfig + $(basename "$fragment"))"
kmake tinyconfig >/dev/null
(cd "$src" && KCONFIG_CONFIG="$obj/.config" ./scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$fragment" >/dev/null)
kmake olddefconfig >/dev/null

# Every line of the fragment must have survived the merge: a dropped dependency is a build error.
bad=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)
      grep -qxF "$line" "$obj/.config" || { echo "build-kernel: option lost in merge: $line" >&2; bad=1; } ;;
    "# CONFIG_"*" is not set")
      opt=${line#\# }; opt=${opt%% *}
      if grep -q "^$opt=" "$obj/.config"; then echo "build-kernel: option should be off: $opt" >&2; bad=1; fi ;;
  esac
done < "$fragment"
[ "$bad" -eq 0 ] || die "the fragment does not apply cleanly; fix kernel-config/qt-vmm.config"

echo "build-kernel: compiling with $(nproc) jobs (about 4 minutes on 2 cores)"
start=$(date +%s)
kmake -j"$(nproc)" bzImage
echo "build-kernel: compiled in $(( $(date +%s) - start )) s"

stage="$work/out"
mkdir -p "$stage"
cp "$obj/arch/x86/boot/bzImage" "$stage/bzImage"
cp "$obj/vmlinux" "$stage/vmlinux"
strip --strip-debug "$stage/vmlinux" 2>/dev/null || true
cp "$obj/.config" "$stage/config"
echo "$src_version" > "$stage/source-version"
rm -rf "$out"
mv "$stage" "$out"
echo "build-kernel: built $out/bzImage ($(stat -c %s "$out/bzImage") bytes)"
