# pgan-worker for NVIDIA GPU nodes: the pool worker with the NCCL backend,
# the pgan CLI, Open MPI and sshd/ssh for mpirun (Kubeflow MPIJob).
#
#   docker build -f docker/worker-gpu.Dockerfile \
#       -t ghcr.io/pgan-dev/pgan-worker-gpu:0.1.0 .
#
# The build context is the repository root (see /.dockerignore). LibTorch
# comes from PyTorch's CUDA 12.6 wheel; the host needs an NVIDIA driver for
# CUDA 12.6 (>= 560) and the NVIDIA Container Toolkit (`--gpus`).
#
# Ubuntu 24.04 ships the same gRPC (1.51), protobuf (3.21), Abseil
# (20220623) and prometheus-cpp (1.0.1) as Debian 12, under its own package
# names (many with a t64 suffix).

# ---------------------------------------------------------------------------
# Builder: CUDA 12.6 toolkit + cuDNN headers (Torch's CMake package looks
# for them) on Ubuntu 24.04, a pinned tag.
FROM nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04 AS builder

# PyTorch 2.7 and later wheels use the C++11 ABI, like gRPC and the other
# C++ libraries from apt that pgan links together with LibTorch; older
# wheels would not link. Pin exactly: the runtime stage copies its
# libraries.
ARG TORCH_VERSION=2.7.1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126

# pipefail for the RUN pipelines below.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config python3 python3-venv \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev \
      libopenmpi-dev openmpi-bin libgloo-dev libyaml-cpp-dev \
      prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev \
      libsqlite3-dev libssl-dev \
      nlohmann-json3-dev libcli11-dev libpng-dev libturbojpeg0-dev libzip-dev \
      zlib1g-dev libgoogle-perftools-dev \
 && rm -rf /var/lib/apt/lists/*

# LibTorch = the torch wheel in a venv (its include/, lib/ and CMake
# package). The wheel depends on NVIDIA's CUDA library wheels (cuDNN,
# cuBLAS, NCCL, ...): the versions this torch was built and tested with.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir \
      "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

# Gather torch's shared libraries and those of its NVIDIA wheels in one
# directory that the runtime stage copies (the wheels find each other
# through relative RPATHs inside site-packages; flat is simpler to ship).
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && mkdir -p /opt/pgan/lib \
 && cp -a "${site}"/torch/lib/*.so* /opt/pgan/lib/ \
 && for d in "${site}"/nvidia/*/lib; do cp -a "${d}"/*.so* /opt/pgan/lib/; done

WORKDIR /src
# Only the sources this build reads, so that edits elsewhere keep the cache.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY config/ config/
COPY proto/ proto/
COPY services/ services/
COPY trainer/ trainer/
COPY tools/ tools/
COPY worker/ worker/

# NCCL: the wheel's (nvidia-nccl-cu12), not the CUDA image's libnccl2, so
# that pgan's NCCL backend and LibTorch share one libnccl.so.2 of the
# version torch was built with. The grep fails the build if the NCCL
# backend was left out. The project's tested build type; stripped after.
RUN site="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPGAN_WITH_WEB=OFF -DPGAN_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$(/opt/venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
      -DNCCL_INCLUDE_DIR="${site}/nvidia/nccl/include" \
      -DNCCL_LIBRARY="${site}/nvidia/nccl/lib/libnccl.so.2" \
    | tee /tmp/configure.log \
 && grep -q 'pgan: NCCL backend: built' /tmp/configure.log \
 && cmake --build build --target pgan-worker pgan pgan-healthcheck \
 && strip build/worker/pgan-worker build/tools/pgan \
      build/services/pgan-healthcheck

# ---------------------------------------------------------------------------
# Runtime: the matching CUDA 12.6 base image (the NVIDIA Container Toolkit
# settings and the CUDA runtime), not the cudnn-runtime one: cuDNN, cuBLAS,
# NCCL and the other CUDA libraries come from the torch wheel's NVIDIA
# wheels copied below, so the image carries each library once, at the
# version LibTorch expects. Plus the Ubuntu 24.04 packages of the libraries
# pgan-worker and pgan load:
#   libgrpc++1.51t64, libgrpc29t64, libprotobuf32t64, libabsl20220623t64
#                                gRPC to the coordinator
#   libgloo0                     CPU gangs of pool workers
#   libopenmpi3t64               jobs under mpirun
#   libyaml-cpp0.8               YAML job specs (pgan submit)
#   libtcmalloc-minimal4t64      the executables' allocator
#   libcivetweb1                 HTTP: /healthz, /readyz, pgan-healthcheck
#   libpng16-16t64, libturbojpeg, libzip4t64, zlib1g
#                                datasets, sample grids, snapshots
# and openmpi-bin (mpirun, orted), openssh-client, openssh-server.
FROM nvidia/cuda:12.6.3-base-ubuntu24.04

LABEL org.opencontainers.image.title="pgan-worker-gpu" \
      org.opencontainers.image.description="pgan worker for NVIDIA GPUs: pool worker (NCCL gangs), mpirun jobs (Open MPI), the pgan CLI; LibTorch 2.7.1 + CUDA 12.6" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.vendor="pgan-dev" \
      org.opencontainers.image.base.name="docker.io/nvidia/cuda:12.6.3-base-ubuntu24.04"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51t64 libgrpc29t64 libprotobuf32t64 libabsl20220623t64 \
      libgloo0 libopenmpi3t64 libyaml-cpp0.8 libtcmalloc-minimal4t64 \
      libcivetweb1 libpng16-16t64 libturbojpeg libzip4t64 zlib1g \
      openmpi-bin openssh-client openssh-server \
 && rm -rf /var/lib/apt/lists/*

# LibTorch and the CUDA libraries of its wheels. ld.so.conf makes them
# found also by processes that do not inherit the image's environment
# (orted and the ranks that mpirun starts over ssh); LD_LIBRARY_PATH puts
# them before the base image's CUDA runtime for everything else.
COPY --from=builder /opt/pgan/lib /opt/pgan/lib
RUN echo /opt/pgan/lib > /etc/ld.so.conf.d/000-pgan.conf && ldconfig
ENV LD_LIBRARY_PATH=/opt/pgan/lib:${LD_LIBRARY_PATH}

COPY --from=builder /src/build/worker/pgan-worker /usr/local/bin/pgan-worker
COPY --from=builder /src/build/tools/pgan /usr/local/bin/pgan
COPY --from=builder /src/build/services/pgan-healthcheck /usr/local/bin/pgan-healthcheck

# Fails the image build when a library the binaries load is missing.
# libcuda.so.1 is the host driver's, mounted at run time by the toolkit.
RUN ! ldd /usr/local/bin/pgan-worker /usr/local/bin/pgan \
      /usr/local/bin/pgan-healthcheck | grep 'not found' | grep -v 'libcuda\.so'

# ssh for mpirun as the non-root user: sshd runs with
# -f /etc/pgan/sshd_config (port 2222, the MPIJob's key as host key); the
# client trusts the short-lived worker pods' host keys.
COPY docker/ssh/sshd_config /etc/pgan/sshd_config
COPY docker/ssh/ssh_config /etc/ssh/ssh_config.d/pgan.conf

# A fixed numeric uid/gid (Kubernetes' runAsNonRoot can verify it) with a
# login shell and a home for ~/.ssh (mpirun starts orted over ssh) and
# ~/.cache. /var/lib/pgan: run directories, datasets. Ubuntu's images come
# with a user "ubuntu" of uid 1000; pgan gets its own ids all the same.
# /run/sshd: sshd refuses to start without it.
RUN groupadd --gid 10001 pgan \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/pgan \
      --shell /bin/bash pgan \
 && install -d -o 10001 -g 10001 -m 0700 /home/pgan/.ssh \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/pgan \
 && install -d -m 0755 /run/sshd

USER 10001:10001
WORKDIR /var/lib/pgan

# 9471: HTTP /healthz and /readyz of a pool worker (--health-listen).
# NCCL/Gloo peers also connect to each other on ephemeral ports, and
# mpirun on 2222 (sshd); neither is a fixed service port.
EXPOSE 9471

# Liveness of the agent loop. The default arguments below start the health
# endpoint; arguments given to `docker run` replace them, so include
# --health-listen 0.0.0.0:9471 there too (or run with --no-healthcheck,
# e.g. for mpirun --job or sshd). Kubernetes ignores HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/pgan-healthcheck", "http://127.0.0.1:9471/healthz"]

# A pool worker offering one GPU by default: the coordinator from
# $PGAN_COORDINATOR, its worker token from $PGAN_TOKEN (both given at run
# time, never here). One worker per GPU: pin it with CUDA_VISIBLE_DEVICES or
# `--gpus device=N`.
ENTRYPOINT ["/usr/local/bin/pgan-worker"]
CMD ["--gpus", "1", "--health-listen", "0.0.0.0:9471"]
