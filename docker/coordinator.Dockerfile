# pgan-coordinator: the gRPC coordinator and its HTTP metrics/health endpoint.
#
#   docker build -f docker/coordinator.Dockerfile \
#       -t ghcr.io/pgan-dev/pgan-coordinator:0.1.0 .
#
# The build context is the repository root (see /.dockerignore). The
# coordinator never links LibTorch: the build below configures without the
# trainer, so neither stage carries libtorch.

# ---------------------------------------------------------------------------
# Builder: Debian 12 (a point-release tag, so a rebuild gets the same base)
# with the -dev packages of common/, proto/ and services/ only.
FROM debian:12.11-slim AS builder

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libssl-dev libsqlite3-dev libyaml-cpp-dev \
      prometheus-cpp-dev libcivetweb-dev libcurl4-openssl-dev \
      nlohmann-json3-dev libcli11-dev \
      libpng-dev libturbojpeg0-dev libzip-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
# (libcurl4-openssl-dev: prometheus-cpp's CMake package asks for CURL.)

WORKDIR /src
# Only the sources this build reads, so that edits elsewhere keep the cache.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY config/ config/
COPY proto/ proto/
COPY services/ services/

# The project's tested build type; the symbols are stripped afterwards.
# The web console (web/, built with Node.js) is not in this image yet:
# --web-listen serves the HTTP/JSON API alone here.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DPGAN_WITH_WEB=OFF -DPGAN_WITH_TRAINER=OFF -DPGAN_BUILD_TESTS=OFF \
 && cmake --build build --target pgan-coordinator pgan-healthcheck \
 && strip build/services/pgan-coordinator build/services/pgan-healthcheck

# ---------------------------------------------------------------------------
# Runtime: the same Debian 12 slim base plus only the shared libraries the
# two binaries load (found with ldd + dpkg -S on a Debian 12 build):
#   libgrpc++1.51, libgrpc29  gRPC (libgpr is in libgrpc29)
#   libprotobuf32             protobuf 3.21
#   libabsl20220623           Abseil
#   libssl3                   libcrypto (token digests)
#   libsqlite3-0              the state database
#   libprometheus-cpp-core1.0 the metrics registry
#   libcivetweb1              HTTP: /metrics, /healthz, /readyz (server)
#                             and pgan-healthcheck (client)
# libstdc++6, libgcc-s1 and libc6 are in the base image.
FROM debian:12.11-slim

LABEL org.opencontainers.image.title="pgan-coordinator" \
      org.opencontainers.image.description="pgan coordinator: schedules Projected-GAN training jobs on a pool of workers (gRPC), Prometheus metrics and health endpoints" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.vendor="pgan-dev" \
      org.opencontainers.image.base.name="docker.io/library/debian:12.11-slim"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libssl3 \
      libsqlite3-0 libprometheus-cpp-core1.0 libcivetweb1 \
 && rm -rf /var/lib/apt/lists/*

COPY --from=builder /src/build/services/pgan-coordinator /usr/local/bin/pgan-coordinator
COPY --from=builder /src/build/services/pgan-healthcheck /usr/local/bin/pgan-healthcheck

# Fails the image build when a library the binaries load is missing.
RUN ! ldd /usr/local/bin/pgan-coordinator /usr/local/bin/pgan-healthcheck \
      | grep 'not found'

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can verify it
# and volume ownership is predictable. /var/lib/pgan holds the state
# database and the run directories; /etc/pgan/tokens is where the tokens
# file is mounted (it is never part of the image).
RUN groupadd --gid 10001 pgan \
 && useradd --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/pgan --shell /usr/sbin/nologin pgan \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/pgan /var/lib/pgan/runs \
      /var/lib/pgan/data \
 && install -d -m 0755 /etc/pgan/tokens

USER 10001:10001
WORKDIR /var/lib/pgan

# 7470: gRPC (job and worker APIs); 9470: HTTP /metrics, /healthz, /readyz.
EXPOSE 7470 9470

# Ready when the state database answers (/readyz). Kubernetes ignores this
# and uses its own probes on the same endpoints.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/pgan-healthcheck", "http://127.0.0.1:9470/readyz"]

# Exec form: the coordinator is PID 1 and gets SIGTERM itself.
ENTRYPOINT ["/usr/local/bin/pgan-coordinator"]
CMD ["--listen", "0.0.0.0:7470", "--metrics-listen", "0.0.0.0:9470", \
     "--state", "/var/lib/pgan/state.db", "--storage", "/var/lib/pgan/runs", \
     "--data-root", "/var/lib/pgan/data", \
     "--tokens", "/etc/pgan/tokens/tokens.txt"]
