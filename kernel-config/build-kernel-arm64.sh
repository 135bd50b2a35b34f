#!/usr/bin/env bash
# Builds the qt-vmm arm64 guest kernel (an arm64 Image) from Debian's linux-source-6.12 with the
# aarch64-linux-gnu cross compiler: qt-vmm.config (the options both architectures share, less the
# lines qt-vmm-arm64.config marks "# x86-only:") plus qt-vmm-arm64.config.
#
#   kernel-config/build-kernel-arm64.sh          build (or reuse) and print the cache directory
#   kernel-config/build-kernel-arm64.sh --path   print the cached Image path; exit 1 if not built
#
# Output, in ${QT_VMM_CACHE:-${XDG_CACHE_HOME:-~/.cache}/qt-vmm}/kernel/arm64-<key>/:
#   Image (uncompressed: arm64 kernels do not decompress themselves; what EIFs carry), vmlinux, config.
# <key> hashes both fragments, this script, the source package version and the compiler version.
# A sibling of build-kernel.sh rather than an option of it: that script's bytes are part of the
# x86 kernel's cache key, which stays as it is. Same steps: reproducible, published atomically.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
common="$here/qt-vmm.config"
fragment="$here/qt-vmm-arm64.config"
tarball=/usr/src/linux-source-6.12.tar.xz
cache_root="${QT_VMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qt-vmm}/kernel"
cross=aarch64-linux-gnu-
if [ "$(uname -m)" = aarch64 ]; then cross=""; fi

die() { echo "build-kernel-arm64: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball not found; run scripts/install-deps.sh (package linux-source-6.12)"
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) \
  || die "package linux-source-6.12 is not installed; run scripts/install-deps.sh"
command -v "${cross}gcc" >/dev/null || die "${cross}gcc not found; run scripts/install-deps.sh"
cc_version=$("${cross}gcc" --version | head -n1)
key=$( { cat "$common" "$fragment" "$0"; echo "$src_version"; echo "$cc_version"; } | sha256sum | cut -c1-16)
out="$cache_root/arm64-$key"

if [ "${1:-}" = "--path" ]; then
  [ -f "$out/Image" ] || die "arm64 kernel not built yet (key $key); run: make kernel ARCH=arm64"
  echo "$out/Image"
  exit 0
fi
[ $# -eq 0 ] || die "unknown argument '$1'; usage: $0 [--path]"

if [ -f "$out/Image" ] && [ -f "$out/vmlinux" ]; then
  echo "build-kernel-arm64: up to date: $out/Image ($(stat -c %s "$out/Image") bytes)"
  exit 0
fi

mkdir -p "$cache_root"
src="$cache_root/src-$src_version"
if [ ! -f "$src/Makefile" ]; then
  echo "build-kernel-arm64: unpacking $tarball"
  tmp_src=$(mktemp -d "$cache_root/.src.XXXXXX")
  tar -xJf "$tarball" -C "$tmp_src" --strip-components=1
  rm -rf "$src"
  mv "$tmp_src" "$src"
fi

work=$(mktemp -d "$cache_root/.build-arm64-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
obj="$work/obj"
mkdir -p "$obj"

# The shared fragment without the x86-only options, then the arm64 one: what the merge applies
# and what the check below expects.
x86_only=$(sed -n 's/^# x86-only: \(CONFIG_[A-Z0-9_]*\)$/\1/p' "$fragment")
merged="$work/qt-vmm-arm64-merged.config"
if [ -n "$x86_only" ]; then grep -vwF -f <(echo "$x86_only") "$common"; else cat "$common"; fi > "$merged"
cat "$fragment" >> "$merged"

export KBUILD_BUILD_TIMESTAMP="2024-01-01 00:00:00 UTC" KBUILD_BUILD_USER=qt-vmm KBUILD_BUILD_HOST=qt-vmm
kmake() { make -s -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE="$cross" "$@"; }

echo "build-kernel-arm64: configuring (tinyconfig + $(basename "$common") + $(basename "$fragment"))"
kmake tinyconfig >/dev/null
(cd "$src" && ARCH=arm64 KCONFIG_CONFIG="$obj/.config" ./scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$merged" >/dev/null)
kmake olddefconfig >/dev/null

# Every line of both fragments must have survived the merge: a dropped dependency is a build error.
bad=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)
      grep -qxF "$line" "$obj/.config" || { echo "build-kernel-arm64: option lost in merge: $line" >&2; bad=1; } ;;
    "# CONFIG_"*" is not set")
      opt=${line#\# }; opt=${opt%% *}
      if grep -q "^$opt=" "$obj/.config"; then echo "build-kernel-arm64: option should be off: $opt" >&2; bad=1; fi ;;
  esac
done < "$merged"
[ "$bad" -eq 0 ] || die "the fragments do not apply cleanly; fix kernel-config/qt-vmm-arm64.config"

echo "build-kernel-arm64: compiling with $(nproc) jobs"
start=$(date +%s)
kmake -j"$(nproc)" Image
echo "build-kernel-arm64: compiled in $(( $(date +%s) - start )) s"

stage="$work/out"
mkdir -p "$stage"
cp "$obj/arch/arm64/boot/Image" "$stage/Image"
cp "$obj/vmlinux" "$stage/vmlinux"
"${cross}strip" --strip-debug "$stage/vmlinux" 2>/dev/null || true
cp "$obj/.config" "$stage/config"
echo "$src_version" > "$stage/source-version"
rm -rf "$out"
mv "$stage" "$out"
echo "build-kernel-arm64: built $out/Image ($(stat -c %s "$out/Image") bytes)"
