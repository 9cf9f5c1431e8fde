# Tern in a container: Debian 12 slim, multi-stage. The first stage builds
# the Debian package exactly as `bash .ci/tern.sh package` does; the second
# installs it (with its library dependencies from Debian) and nothing else.
#
#   docker build -t tern .
#   docker run --rm -p 1883:1883 -p 1884:1884/udp -p 127.0.0.1:9883:9883 \
#              -v tern-data:/var/lib/tern tern
FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config dpkg-dev file \
        libmbedtls-dev liblmdb-dev libserialport-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DTERN_TESTS=OFF -DTERN_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cd /build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /build/tern_*.deb /tmp/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/tern_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/tern_*.deb
COPY packaging/tern-docker.conf /etc/tern/tern.conf
USER tern
WORKDIR /var/lib/tern
VOLUME /var/lib/tern
# MQTT, MQTT-SN (UDP), metrics and health (/healthz for the orchestrator's probe)
EXPOSE 1883/tcp 1884/udp 9883/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tern"]
CMD ["-c", "/etc/tern/tern.conf"]
