#!/usr/bin/env bash
# The trainer-only build (no gRPC, no MPI) and its unit tests against
# Debian 13's LibTorch 2.x, in a Debian 13 chroot made with debootstrap from
# the archive apt already uses, so that an API change between LibTorch 1.13
# (Debian 12, the everyday build) and 2.x shows before it lands. The chroot,
# its build tree and its ccache are kept and reused (PGAN_TORCH2_ROOT).
# Needs root (debootstrap, chroot, bind mounts).
#
#   tools/torch2_check.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHROOT="${PGAN_TORCH2_ROOT:-/var/cache/pgan/trixie}"
MIRROR="${PGAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=(
  libtorch-dev cmake g++ ninja-build ccache pkg-config
  libabsl-dev nlohmann-json3-dev libcli11-dev libpng-dev libturbojpeg0-dev
  libzip-dev zlib1g-dev libssl-dev libgoogle-glog-dev libgoogle-perftools-dev
  libgtest-dev libgmock-dev
)

start=$(date +%s)
if [ ! -x "$CHROOT/usr/bin/cmake" ] || [ ! -f "$CHROOT/.pgan-packages" ] ||
   [ "$(cat "$CHROOT/.pgan-packages")" != "${PACKAGES[*]}" ]; then
  if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null ||
      env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    mkdir -p "$CHROOT"
    debootstrap --variant=minbase trixie "$CHROOT" "$MIRROR" >/dev/null
  fi
  chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  echo "${PACKAGES[*]}" >"$CHROOT/.pgan-packages"
fi
echo "torch2_check: chroot ready in $(( $(date +%s) - start )) s"

# The sources, read-only, and /proc (LibTorch and ctest read it).
mkdir -p "$CHROOT/src" "$CHROOT/proc"
cleanup() {
  umount "$CHROOT/src" 2>/dev/null || true
  umount "$CHROOT/proc" 2>/dev/null || true
}
trap cleanup EXIT
mount --bind "$ROOT" "$CHROOT/src"
mount -o remount,bind,ro "$CHROOT/src"
mount -t proc proc "$CHROOT/proc"

chroot "$CHROOT" env CCACHE_DIR=/var/cache/ccache HOME=/root bash -euo pipefail -c '
  cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPGAN_WITH_SERVICES=OFF -DPGAN_WITH_WEB=OFF -DPGAN_BUILD_TESTS=ON >/dev/null
  cmake --build /build -j "$(nproc)"
  ctest --test-dir /build -L unit --output-on-failure -j "$(nproc)"
'
echo "torch2_check: LibTorch $(chroot "$CHROOT" dpkg-query -W -f='${Version}' libtorch-dev)," \
  "trainer-only build and unit tests passed in $(( $(date +%s) - start )) s"
