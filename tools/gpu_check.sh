#!/usr/bin/env bash
# The one-shot GPU check: on a machine with an NVIDIA GPU and a PyTorch wheel
# (no gRPC or MPI needed), builds the trainer against the wheel's LibTorch
# and prints one table: the gpu-labelled tests, the reference golden tests
# run on the GPU, a one-rank NCCL run (where the full build's MPI and Gloo
# are there), `pgan bench` at 256 px fastgan_lite with batch 16 in fp32,
# bf16, channels-last and both, and, where the reference's code and timm
# import, the reference's own iteration at the same configuration with the
# ratio. Meant to finish inside 10 minutes on one H100/H200.
#
#   tools/gpu_check.sh                 # build in build-gpu/, then check
#   tools/gpu_check.sh --bundle DIR    # on a Debian 12 machine with apt: the
#                                      # build's libraries for an offline one
#
# Environment:
#   PYTHON          the Python that has torch (python3)
#   PGAN_REFERENCE  a checkout of autonomousvision/projected_gan (for the
#                   reference row; timm must import)
#   PGAN_GPU_DEPS   a folder made by --bundle, on a machine without the
#                   -dev packages below and without apt
#   PGAN_GPU_BUILD  the build folder (build-gpu), PGAN_GPU_BUILD_TYPE its
#                   CMAKE_BUILD_TYPE (Release)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUILD="${PGAN_GPU_BUILD:-$ROOT/build-gpu}"
BUILD_TYPE="${PGAN_GPU_BUILD_TYPE:-Release}"
# The trainer-only build's libraries (Debian/Ubuntu names).
PACKAGES=(libabsl-dev nlohmann-json3-dev libcli11-dev libpng-dev
          libturbojpeg0-dev libzip-dev zlib1g-dev libssl-dev libgtest-dev
          libgmock-dev pkgconf)

if [ "${1:-}" = "--bundle" ]; then
  # Every package above and the runtime libraries they link, unpacked into
  # DIR: PGAN_GPU_DEPS=DIR tools/gpu_check.sh uses them where apt cannot.
  out="${2:?usage: tools/gpu_check.sh --bundle DIR}"
  mkdir -p "$out/debs" && cd "$out/debs" || exit 1
  runtime=(libpng16-16 libturbojpeg0 libzip4 libssl3 zlib1g libpkgconf3
           pkgconf-bin libbz2-1.0 liblzma5 libzstd1 libgnutls30 libnettle8)
  runtime+=($(apt-cache depends libabsl-dev | awk '/Depends: libabsl2/ {print $2}'))
  apt-get download "${PACKAGES[@]}" "${runtime[@]}" || exit 1
  for deb in ./*.deb; do dpkg -x "$deb" "$out"; done
  rm -rf "$out/debs"
  echo "gpu_check: the build's libraries are in $out (PGAN_GPU_DEPS=$out)"
  exit 0
fi

# --- Rows of the table -----------------------------------------------------
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 |"); }
t0=$SECONDS
since() { echo "$(( SECONDS - $1 )) s"; }
LOG="$BUILD/gpu_check.log"
mkdir -p "$BUILD"
: >"$LOG"

torch_info=$("$PYTHON" - 2>>"$LOG" <<'EOF'
import torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(torch.utils.cmake_prefix_path)
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}")
print("yes" if torch.cuda.is_available() else "no")
EOF
)
if [ -z "$torch_info" ]; then
  echo "gpu_check: $PYTHON cannot import torch (set PYTHON)"; exit 1
fi
TORCH_PREFIX=$(sed -n 1p <<<"$torch_info")
CARD=$(sed -n 2p <<<"$torch_info")
HAVE_CUDA=$(sed -n 3p <<<"$torch_info")
echo "gpu_check: $CARD"

if [ -n "${PGAN_GPU_DEPS:-}" ]; then
  arch_lib="$PGAN_GPU_DEPS/usr/lib/x86_64-linux-gnu"
  export PATH="$PGAN_GPU_DEPS/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$arch_lib/pkgconfig:$PGAN_GPU_DEPS/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$PGAN_GPU_DEPS"
  export CPATH="$PGAN_GPU_DEPS/usr/include${CPATH:+:$CPATH}"
  PREFIXES="$TORCH_PREFIX;$PGAN_GPU_DEPS/usr"
else
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${PACKAGES[@]}" >>"$LOG" 2>&1 || true
  fi
  PREFIXES="$TORCH_PREFIX"
fi

# --- Build: the full build where gRPC, MPI and Gloo are found (for NCCL),
# else the trainer-only one. -----------------------------------------------
start=$SECONDS
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
configure() {
  cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DCMAKE_PREFIX_PATH="$PREFIXES" -DPGAN_WITH_WEB=OFF -DPGAN_BUILD_TESTS=ON \
    -DPGAN_WITH_TCMALLOC=OFF "$@" >>"$LOG" 2>&1
}
# A folder configured before keeps its kind; a new one tries the full build
# in a scratch folder first, so that a failed probe leaves nothing behind.
services=$(sed -n 's/^PGAN_WITH_SERVICES:BOOL=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
if [ -z "$services" ]; then
  services=OFF
  if (BUILD="$BUILD/probe"; configure -DPGAN_WITH_SERVICES=ON); then services=ON; fi
  rm -rf "$BUILD/probe"
fi
configure -DPGAN_WITH_SERVICES="$services" || {
  echo "gpu_check: cmake failed; see $LOG"; tail -20 "$LOG"; exit 1; }
kind="trainer-only build"
[ "$services" = ON ] && kind="full build"
targets=(pgan trainer_test gpu_training_test)
[ "$kind" = "full build" ] && targets+=(nccl_communicator_test)
if cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >>"$LOG" 2>&1; then
  row "build ($kind; $CARD)" "ok" "$(since $start)"
else
  echo "gpu_check: the build failed; see $LOG"; tail -30 "$LOG"; exit 1
fi

# --- Tests ------------------------------------------------------------------
# One gtest binary's result as "N passed, M failed, K skipped".
gtest_row() {
  local what=$1; shift
  local s=$SECONDS out
  out=$("$@" 2>&1); local rc=$?
  echo "$out" >>"$LOG"
  local passed failed skipped
  passed=$(grep -c '^\[       OK \]' <<<"$out")
  failed=$(grep -c '^\[  FAILED  \] .*(' <<<"$out")
  skipped=$(grep -c '^\[  SKIPPED \] .*(' <<<"$out")
  local verdict="$passed passed, $failed failed, $skipped skipped"
  [ $rc -ne 0 ] && [ "$failed" = 0 ] && verdict="exit $rc ($verdict)"
  row "$what" "$verdict" "$(since $s)"
}
gtest_row "gpu tests (gpu_training_test)" "$BUILD/tests/gpu_training_test"
if [ "$HAVE_CUDA" = yes ]; then
gtest_row "reference golden tests on cuda:0" \
  env PGAN_TEST_DEVICE=cuda:0 "$BUILD/tests/trainer_test" \
  --gtest_filter='ReferenceGoldenTest.*:IterationGoldenTest.*'
if [ "$kind" = "full build" ]; then
  gtest_row "NCCL, one rank (nccl_communicator_test)" \
    "$BUILD/tests/nccl_communicator_test"
  s=$SECONDS
  if mpirun --allow-run-as-root --oversubscribe -np 1 "$BUILD/tools/pgan" bench \
       --backend nccl --device cuda --cfg fastgan_lite --res 256 --batch 16 \
       --iters 3 --comm >>"$LOG" 2>&1; then
    row "one-rank NCCL run (mpirun -np 1 pgan bench --backend nccl --comm)" "ok" "$(since $s)"
  else
    row "one-rank NCCL run" "failed (see $LOG)" "$(since $s)"
  fi
else
  row "NCCL, one rank" "not built: worker/'s NCCL backend needs MPI and Gloo (the full build)" "-"
fi

# --- Speed ------------------------------------------------------------------
BENCH=(--cfg fastgan_lite --res 256 --batch 16 --batch-gpu 16 --device cuda
       --warmup 3 --iters 20)
fp32_ips=""
bench_row() {
  local what=$1; shift
  local s=$SECONDS out
  out=$("$BUILD/tools/pgan" bench "${BENCH[@]}" "$@" 2>&1); local rc=$?
  echo "$out" >>"$LOG"
  local result; result=$(grep '^result:' <<<"$out" | sed 's/^result: //')
  if [ $rc -ne 0 ] || [ -z "$result" ]; then
    row "pgan bench, $what" "failed: $(tail -1 <<<"$out")" "$(since $s)"; return
  fi
  local ips; ips=$(sed -n 's/.*, \([0-9.]*\) img\/s.*/\1/p' <<<"$result")
  [ -z "$fp32_ips" ] && fp32_ips=$ips
  row "pgan bench, $what" "$result; $(awk -v a="$ips" -v b="$fp32_ips" \
      'BEGIN{printf "%.2fx fp32", a/b}')" "$(since $s)"
}
bench_row "fp32"
bench_row "bf16" --amp bf16
bench_row "channels-last" --channels-last 1
bench_row "bf16, channels-last" --amp bf16 --channels-last 1

# The reference's own iteration, where its code and timm are there.
s=$SECONDS
if [ -n "${PGAN_REFERENCE:-}" ] &&
   PYTHONPATH="$PGAN_REFERENCE:$ROOT/tools" "$PYTHON" -c 'import timm, pg_modules' 2>>"$LOG"; then
  out=$(PYTHONPATH="$PGAN_REFERENCE:$ROOT/tools" "$PYTHON" "$ROOT/tools/reference_bench.py" \
        --cfg fastgan_lite --res 256 --batch 16 --warmup 3 --iters 20 2>&1)
  echo "$out" >>"$LOG"
  result=$(grep '^result:' <<<"$out" | sed 's/^result: //')
  ref_ips=$(sed -n 's/.*, \([0-9.]*\) img\/s.*/\1/p' <<<"$result")
  if [ -n "$ref_ips" ] && [ -n "$fp32_ips" ]; then
    row "the reference's iteration (fp32)" "$result; pgan fp32 is $(awk -v a="$fp32_ips" \
        -v b="$ref_ips" 'BEGIN{printf "%.2fx", a/b}') the reference" "$(since $s)"
  else
    row "the reference's iteration" "failed: $(tail -1 <<<"$out")" "$(since $s)"
  fi
else
  row "the reference's iteration" "not run: set PGAN_REFERENCE to a projected_gan checkout (timm must import)" "-"
fi

else
  # Nothing past the gpu tests (which skip themselves) can run here.
  for what in "reference golden tests on cuda:0" "NCCL, one rank" "pgan bench" \
              "the reference's iteration"; do
    row "$what" "skipped: no CUDA device" "-"
  done
fi

echo
echo "pgan GPU check, $(date -u +%Y-%m-%d), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'): $CARD"
echo
echo "| check | result | time |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "gpu_check: $(since $t0) in all; the log is $LOG"
