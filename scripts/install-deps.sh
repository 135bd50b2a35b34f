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

# From bookworm-backports (same Debian archive): the guest kernel source with the NSM driver
# (linux-source-6.12, CONFIG_NSM since 6.8) and QEMU 10, whose generic vhost-user-device serves
# the NSM to --accel tcg guests. "package:minimum-version".
backports=(
  linux-source-6.12:6.12
  qemu-system-x86:1:10.0
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

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

missing_backports=()
for entry in "${backports[@]}"; do
  p=${entry%%:*} min=${entry#*:}
  have=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null | sed -n 's/^install ok installed //p' || true)
  if [ -z "$have" ] || dpkg --compare-versions "$have" lt "$min"; then
    missing_backports+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ] && [ ${#missing_backports[@]} -eq 0 ]; then
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
