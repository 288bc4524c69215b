#!/usr/bin/env bash
# Sets up a Debian 12 machine for pgan, builds it, and runs the demo or the
# test suite. Idempotent: packages already installed and an existing build
# are reused.
#
#   tools/dev.sh demo    install, build, run the main job
#   tools/dev.sh test    install, build, run every test (what CI runs)
#   tools/dev.sh build   install and build only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${PGAN_BUILD_DIR:-$ROOT/build}"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgoogle-glog-dev
  libopenmpi-dev openmpi-bin
  prometheus-cpp-dev libsqlite3-dev libssl-dev
  nlohmann-json3-dev libcli11-dev libpng-dev libturbojpeg0-dev libzip-dev zlib1g-dev
  libgtest-dev libgmock-dev libgoogle-perftools-dev
  dataset-fashion-mnist
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "Installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD" -j "${PGAN_JOBS:-$(nproc)}"
}

case "${1:-}" in
  demo)
    install_packages
    build
    # The main job on an embedded default: Projected FastGAN-lite on 2,000
    # Fashion-MNIST images at 32x32, about five minutes on 2 CPU cores. The
    # learning rates are 10x the reference's so that the samples visibly
    # change within those minutes.
    demo="$BUILD/demo"
    data="$demo/fashion-mnist-32.zip"
    if [ ! -f "$data" ]; then
      "$BUILD/tools/pgan" dataset \
        --source /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
        --dest "$data" --resolution 32 --max-images 2000
    fi
    "$BUILD/tools/pgan" train --data "$data" --outdir "$demo/runs" \
      --cfg fastgan_lite --res 32 --ngf 32 --batch 16 --kimg 1 --tick 0.1 \
      --snap 2 --grid 8x4 --glr 0.002 --dlr 0.002
    echo "Sample grids: $(ls -d "$demo"/runs/*/ | tail -n 1)fakes*.png"
    ;;
  test)
    install_packages
    build
    ctest --test-dir "$BUILD" --output-on-failure -j "${PGAN_JOBS:-$(nproc)}"
    ;;
  build)
    install_packages
    build
    ;;
  *)
    echo "usage: tools/dev.sh demo|test|build" >&2
    exit 2
    ;;
esac
