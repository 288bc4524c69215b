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
  libopenmpi-dev openmpi-bin libgloo-dev openssl libyaml-cpp-dev
  prometheus-cpp-dev libcivetweb-dev libsqlite3-dev libssl-dev
  prometheus libcurl4-openssl-dev
  nlohmann-json3-dev libcli11-dev libpng-dev libturbojpeg0-dev libzip-dev zlib1g-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  libgtest-dev libgmock-dev libgoogle-perftools-dev
  dataset-fashion-mnist
  iproute2
  chromium
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

# The web console's packages (web/package-lock.json) from the npm registry,
# again only when the lock file is newer than what is installed. The
# machine's Node.js is used where there is one (playwright-core needs 20 or
# newer); otherwise Debian's.
install_web() {
  if ! command -v npm >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      nodejs npm >/dev/null
  fi
  local stamp="$ROOT/web/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$ROOT/web/package-lock.json" -nt "$stamp" ]; then
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD" -j "${PGAN_JOBS:-$(nproc)}"
}

# The demo job through the service, all on this machine: a coordinator on
# 127.0.0.1 with fresh tokens, two CPU pool workers (one core each; they
# train the job together, gradients over Gloo), the job submitted and
# watched with the pgan CLI and the web console. Everything stops when the
# job ends (at a terminal, once Enter is pressed).
run_demo_service() {
  local demo="$1" data="$2" svc="$1/service"
  mkdir -p "$svc"
  local user_token worker_token
  user_token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  worker_token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf 'demo user %s\nworkers worker %s\n' \
    "$(printf %s "$user_token" | sha256sum | cut -d' ' -f1)" \
    "$(printf %s "$worker_token" | sha256sum | cut -d' ' -f1)" >"$svc/tokens.txt")
  rm -f "$svc/port"
  PIDS=()
  trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
  rm -f "$svc/web-port"
  "$BUILD/services/pgan-coordinator" --listen 127.0.0.1:0 --port-file "$svc/port" \
    --state "$svc/state.db" --tokens "$svc/tokens.txt" --data-root "$demo" \
    --storage "$demo/runs" --metrics-listen 127.0.0.1:0 \
    --web-listen 127.0.0.1:0 --web-root "$BUILD/web" \
    --web-port-file "$svc/web-port" >"$svc/coordinator.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$svc/port" ] && break; sleep 0.1; done
  [ -s "$svc/port" ] || { cat "$svc/coordinator.log" >&2; return 1; }
  for _ in $(seq 50); do [ -s "$svc/web-port" ] && break; sleep 0.1; done
  local address
  address="127.0.0.1:$(cat "$svc/port")"
  for i in 1 2; do
    PGAN_TOKEN="$worker_token" "$BUILD/worker/pgan-worker" --coordinator "$address" \
      --hostname 127.0.0.1 --cpu-slots 1 >"$svc/worker-$i.log" 2>&1 &
    PIDS+=($!)
  done
  cat >"$svc/demo-job.json" <<EOF
{"name": "demo", "resources": {"workers": 2},
 "training": {"model": {"cfg": "fastgan_lite", "resolution": 32, "ngf": 32},
              "data": "$data", "batch": 16, "kimg": 1, "tick": 0.1, "snap": 2,
              "grid_width": 8, "grid_height": 4, "glr": 0.002, "dlr": 0.002}}
EOF
  export PGAN_COORDINATOR="$address" PGAN_TOKEN="$user_token"
  echo "Coordinator on $address (logs in $svc); submitting the demo job"
  echo "Web console: http://127.0.0.1:$(cat "$svc/web-port")/ (log in with the token $user_token)"
  local id
  id="$("$BUILD/tools/pgan" submit "$svc/demo-job.json" | awk '{print $2}')"
  "$BUILD/tools/pgan" watch "$id"
  echo "Sample grids: $demo/runs/$id/fakes*.png"
  # At a terminal the console stays up to look at the finished job.
  if [ -t 0 ]; then
    echo "The web console stays up; press Enter to stop it and the service."
    read -r _ || true
  fi
}

case "${1:-}" in
  demo)
    install_packages
    install_web
    build
    # The main job on an embedded default, through the service: Projected
    # FastGAN-lite on 2,000 Fashion-MNIST images at 32x32 on two pool
    # workers, about nine minutes on 2 CPU cores. The learning rates are 10x
    # the reference's so that the samples visibly change within those
    # minutes.
    demo="$BUILD/demo"
    data="$demo/fashion-mnist-32.zip"
    if [ ! -f "$data" ]; then
      "$BUILD/tools/pgan" dataset \
        --source /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
        --dest "$data" --resolution 32 --max-images 2000
    fi
    run_demo_service "$demo" "$data"
    ;;
  test)
    install_packages
    install_web
    build
    ctest --test-dir "$BUILD" --output-on-failure -j "${PGAN_JOBS:-$(nproc)}"
    ;;
  build)
    install_packages
    install_web
    build
    ;;
  *)
    echo "usage: tools/dev.sh demo|test|build" >&2
    exit 2
    ;;
esac
