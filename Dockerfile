# The geyser binary on a slim Debian base. scripts/image.sh builds it: it makes the base image
# locally when missing (debootstrap, no registry needed) and copies in the binary the cargo build
# already made — nothing is compiled inside the image.
#   podman run --network host -v geyser-data:/var/lib/geyser IMAGE serve --listen 0.0.0.0:8080
ARG BASE=localhost/debian-min:bookworm
FROM ${BASE}
# curl for the health check; CA roots for outbound HTTPS and Kafka over TLS.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/geyser --create-home --shell /usr/sbin/nologin geyser
COPY geyser /usr/local/bin/geyser
USER geyser
WORKDIR /var/lib/geyser
VOLUME /var/lib/geyser
ENV GEYSER_DATA_DIR=/var/lib/geyser \
    GEYSER_LISTEN=0.0.0.0:8080
EXPOSE 8080
# Ready, not merely alive: the database, the artifact cache and Kafka (when configured).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fs -o /dev/null "http://127.0.0.1:${GEYSER_LISTEN##*:}/readyz" || exit 1
ENTRYPOINT ["/usr/local/bin/geyser"]
CMD ["serve"]
