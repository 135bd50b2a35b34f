#!/usr/bin/env bash
# Installs everything qt-vmm needs to build, test and build its guest kernel on Debian 12.
# Idempotent: packages already present are skipped; safe to run as often as you like.
# Usage: scripts/install-deps.sh   as root, or as a user with sudo (it re-runs itself with sudo)
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ make pkg-config git ca-certificates
  # libraries linked into qt-vmm (see README "Dependencies")
  libfdt-dev zlib1g-dev libdeflate-dev libxxhash-dev libssl-dev libcbor-dev libarchive-dev libzstd-dev
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev doctest-dev libseccomp-dev
  # guest kernel build
  flex bison bc libelf-dev xz-utils lz4 zstd cpio kmod
  # nested-KVM test tier (tests/nested): the L1 initramfs's shell and module loader
  busybox-static
  # fuzzing (make fuzz) and sanitizers
  clang libclang-rt-14-dev
  # tests: image tooling checks, benchmark plots
  tar gzip jq gnuplot-nox python3
  # tests: the independent attestation verifier (COSE/X.509 without qt-vmm's code)
  python3-cbor2 python3-cryptography
)

# arm64 cross build on an x86 host (make ARCH=arm64, README "Cross-building for arm64"): the cross
# toolchain, and qemu-user to run the arm64 unit tests (qemu-aarch64 -L /usr/aarch64-linux-gnu,
# called explicitly by make ARCH=arm64 test-unit: no binfmt registration needed).
cross_packages=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user)

# The same libraries for arm64 (multiarch, beside the amd64 ones: every -dev here is Multi-Arch:
# same). libfdt-dev and libyaml-cpp-dev are not (they cannot co-install with the amd64 ones), so
# for those two the arm64 runtime library is installed and the Makefile links against it with
# the arch-independent amd64 headers (see "arm64_syslib" in the Makefile).
arm64_packages=(
  libc6-dev zlib1g-dev libdeflate-dev libxxhash-dev libssl-dev libcbor-dev libarchive-dev libzstd-dev
  libseccomp-dev libfdt1 libyaml-cpp0.7
)

# From bookworm-backports (same Debian archive): the guest kernel source with the NSM driver
# (linux-source-6.12, CONFIG_NSM since 6.8) and QEMU 10, whose generic vhost-user-device serves
# the NSM to --accel tcg guests. "package:minimum-version".
backports=(
  linux-source-6.12:6.12
  qemu-system-x86:1:10.0
  qemu-system-arm:1:10.0
)

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    echo "install-deps: apt-get needs root: re-running with sudo" >&2
    exec sudo bash "$0" "$@"
  fi
  echo "install-deps: must run as root (apt-get) and sudo is not installed; run it as root: su -c '$0'" >&2
  exit 1
fi

# The access model (README "Access model"): members of group qt-vmm may reach enclaves; the
# enclave daemon drops root to the system user qt-vmm-daemon (own group, no login, no home).
ensure_accounts() {
  getent group qt-vmm >/dev/null || groupadd --system qt-vmm
  if ! getent passwd qt-vmm-daemon >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin qt-vmm-daemon
  fi
}
ensure_accounts

# Multiarch: arm64 packages come from the same archive once dpkg knows the architecture.
added_arch=0
if ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null && [ "$(dpkg --print-architecture)" != arm64 ]; then
  echo "install-deps: adding dpkg architecture arm64 (for the :arm64 libraries of make ARCH=arm64)"
  dpkg --add-architecture arm64
  added_arch=1
fi
if [ "$(dpkg --print-architecture)" != arm64 ]; then
  packages+=("${cross_packages[@]}")
  for p in "${arm64_packages[@]}"; do packages+=("$p:arm64"); done
fi

# A name without ":arch" means the native one (or arch "all"): with multiarch, a bare name also
# matches the :arm64 copy, which must not count as the native package being there.
native_arch=$(dpkg --print-architecture)
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -x 'install ok installed' >/dev/null; }
missing=()
for p in "${packages[@]}"; do
  case "$p" in
    *:*) installed "$p" || missing+=("$p") ;;
    *) installed "$p:$native_arch" || installed "$p:all" || missing+=("$p") ;;
  esac
done

missing_backports=()
for entry in "${backports[@]}"; do
  p=${entry%%:*} min=${entry#*:}
  have=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null | sed -n 's/^install ok installed //p' || true)
  if [ -z "$have" ] || dpkg --compare-versions "$have" lt "$min"; then
    missing_backports+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ] && [ ${#missing_backports[@]} -eq 0 ] && [ "$added_arch" -eq 0 ]; then
  echo "install-deps: all $(( ${#packages[@]} + ${#backports[@]} )) packages already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing_backports[@]} -gt 0 ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  list=/etc/apt/sources.list.d/qt-vmm-backports.sources
  if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "install-deps: adding ${codename}-backports to $list"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$codename" > "$list"
  fi
fi
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#missing_backports[@]} -gt 0 ]; then
  echo "install-deps: installing from ${codename}-backports: ${missing_backports[*]}"
  apt-get install -y -qq --no-install-recommends -t "${codename}-backports" "${missing_backports[@]}" >/dev/null
fi
echo "install-deps: done"
