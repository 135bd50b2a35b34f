#!/usr/bin/env bash
# Checks that build outputs are ELF files for the expected architecture (readelf's Machine field),
# and, with --static, that they are statically linked (no program interpreter): a cross build
# that silently produced host binaries, or a guest program that needs a dynamic loader the
# enclave does not have, fails here.
#
#   scripts/check-elf-arch.sh x86|arm64 [--static] FILE...     exit 0 if all match, 1 otherwise
#
# `make ARCH=arm64 test-unit` runs it on the guest programs (--static) and the unit-test binaries.
set -euo pipefail

usage="usage: $0 x86|arm64 [--static] FILE..."
case "${1:-}" in
  x86) machine="Advanced Micro Devices X86-64" ;;
  arm64) machine="AArch64" ;;
  *) echo "check-elf-arch: unknown architecture '${1:-}'; $usage" >&2; exit 2 ;;
esac
arch=$1; shift
static=0
if [ "${1:-}" = --static ]; then static=1; shift; fi
[ $# -gt 0 ] || { echo "check-elf-arch: no files given; $usage" >&2; exit 2; }

bad=0
for f in "$@"; do
  header=$(LC_ALL=C readelf -h "$f" 2>/dev/null) || { echo "check-elf-arch: $f: not an ELF file" >&2; bad=1; continue; }
  got=$(sed -n 's/^ *Machine: *//p' <<<"$header")
  if [ "$got" != "$machine" ]; then
    echo "check-elf-arch: $f: Machine is '$got', expected '$machine' ($arch)" >&2; bad=1; continue
  fi
  if [ "$static" -eq 1 ] && LC_ALL=C readelf -l "$f" | grep 'Requesting program interpreter' >/dev/null; then
    echo "check-elf-arch: $f: dynamically linked, expected static" >&2; bad=1; continue
  fi
done
[ "$bad" -eq 0 ] || exit 1
echo "check-elf-arch: $# files are $arch ELF$([ "$static" -eq 1 ] && echo ", static")"
