# pgan-worker for CPU nodes: the pool worker, the pgan CLI, Open MPI and
# sshd/ssh for mpirun (Kubeflow MPIJob).
#
#   docker build -f docker/worker-cpu.Dockerfile \
#       -t ghcr.io/pgan-dev/pgan-worker-cpu:0.1.0 .
#
# The build context is the repository root (see /.dockerignore). LibTorch is
# Debian's 1.13 (libtorch-dev), the one CI builds and tests against.

# ---------------------------------------------------------------------------
# Builder: Debian 12 (a point-release tag, so a rebuild gets the same base)
# with the packages of tools/dev.sh less those only the tests, the demo
# dataset and the dashboard test use (libgtest-dev, libgmock-dev,
# dataset-fashion-mnist, prometheus, openssl) and the developer tools
# (ccache, git).
FROM debian:12.11-slim AS builder

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libtorch-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libgoogle-glog-dev \
      libopenmpi-dev openmpi-bin libgloo-dev libyaml-cpp-dev \
      prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev \
      libsqlite3-dev libssl-dev \
      nlohmann-json3-dev libcli11-dev libpng-dev libturbojpeg0-dev libzip-dev \
      zlib1g-dev libgoogle-perftools-dev \
 && rm -rf /var/lib/apt/lists/*

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

# The project's tested build type; the symbols are stripped afterwards.
# No CUDA here, so the NCCL backend is left out (the GPU image has it).
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPGAN_WITH_WEB=OFF -DPGAN_BUILD_TESTS=OFF \
 && cmake --build build --target pgan-worker pgan pgan-healthcheck \
 && strip build/worker/pgan-worker build/tools/pgan \
      build/services/pgan-healthcheck

# ---------------------------------------------------------------------------
# Runtime: the same Debian 12 slim base plus the shared libraries that
# pgan-worker and pgan load (found with ldd + dpkg -S on a Debian 12 build):
#   libtorch1.13                 LibTorch (brings its BLAS and OpenMP)
#   libgrpc++1.51, libgrpc29, libprotobuf32, libabsl20220623
#                                gRPC to the coordinator
#   libgloo0                     CPU gangs of pool workers
#   libopenmpi3                  jobs under mpirun
#   libyaml-cpp0.7               YAML job specs (pgan submit)
#   libtcmalloc-minimal4         the executables' allocator
#   libcivetweb1                 HTTP: /healthz, /readyz, pgan-healthcheck
#   libpng16-16, libturbojpeg0, libzip4, zlib1g
#                                datasets, sample grids, snapshots
# and the programs of a multi-node job: openmpi-bin (mpirun, orted),
# openssh-client and openssh-server (mpirun's remote start).
FROM debian:12.11-slim

LABEL org.opencontainers.image.title="pgan-worker-cpu" \
      org.opencontainers.image.description="pgan worker for CPU nodes: pool worker (Gloo gangs), mpirun jobs (Open MPI), the pgan CLI" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.vendor="pgan-dev" \
      org.opencontainers.image.base.name="docker.io/library/debian:12.11-slim"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libtorch1.13 \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 \
      libgloo0 libopenmpi3 libyaml-cpp0.7 libtcmalloc-minimal4 \
      libcivetweb1 libpng16-16 libturbojpeg0 libzip4 zlib1g \
      openmpi-bin openssh-client openssh-server \
 && rm -rf /var/lib/apt/lists/*

COPY --from=builder /src/build/worker/pgan-worker /usr/local/bin/pgan-worker
COPY --from=builder /src/build/tools/pgan /usr/local/bin/pgan
COPY --from=builder /src/build/services/pgan-healthcheck /usr/local/bin/pgan-healthcheck

# Fails the image build when a library the binaries load is missing.
RUN ! ldd /usr/local/bin/pgan-worker /usr/local/bin/pgan \
      /usr/local/bin/pgan-healthcheck | grep 'not found'

# ssh for mpirun as the non-root user: sshd runs with
# -f /etc/pgan/sshd_config (port 2222, the MPIJob's key as host key); the
# client trusts the short-lived worker pods' host keys.
COPY docker/ssh/sshd_config /etc/pgan/sshd_config
COPY docker/ssh/ssh_config /etc/ssh/ssh_config.d/pgan.conf

# A fixed numeric uid/gid (Kubernetes' runAsNonRoot can verify it) with a
# login shell and a home for ~/.ssh (mpirun starts orted over ssh) and
# ~/.cache. /var/lib/pgan: run directories, datasets.
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
# Gang peers also connect to each other on ephemeral ports (Gloo), and
# mpirun on 2222 (sshd); neither is a fixed service port.
EXPOSE 9471

# Liveness of the agent loop. The default arguments below start the health
# endpoint; arguments given to `docker run` replace them, so include
# --health-listen 0.0.0.0:9471 there too (or run with --no-healthcheck,
# e.g. for mpirun --job or sshd). Kubernetes ignores HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/pgan-healthcheck", "http://127.0.0.1:9471/healthz"]

# A pool worker by default: the coordinator from $PGAN_COORDINATOR, its
# worker token from $PGAN_TOKEN (both given at run time, never here).
ENTRYPOINT ["/usr/local/bin/pgan-worker"]
CMD ["--gpus", "0", "--health-listen", "0.0.0.0:9471"]
