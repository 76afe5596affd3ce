# syntax=docker/dockerfile:1
# The chief-upload image: the static musl binary from the release archives and CA roots,
# nothing else (a distroless static base: no shell, no package manager), run as a
# non-root user. The binary is not rebuilt here: it is the one in the archive that CI
# tested and that users download, checked against SHA256SUMS.
#
# Built and pushed (linux/amd64 and linux/arm64) by .github/workflows/release.yml on a
# tag, from the archives in dist/out. By hand, for the machine's own architecture:
#   dist/package.sh x86_64-unknown-linux-musl --release     # (or aarch64-..., --zig)
#   docker build -t chief-upload .
#   docker run --rm -e CHIEF_API_KEY -e CHIEF_PROJECT_ID -v "$PWD:/data:ro" chief-upload /data

FROM --platform=$BUILDPLATFORM debian:bookworm-slim AS unpack
ARG TARGETARCH
COPY dist/out/ /dist/
WORKDIR /dist
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN case "$TARGETARCH" in \
        amd64) target=x86_64-unknown-linux-musl ;; \
        arm64) target=aarch64-unknown-linux-musl ;; \
        *) echo "no chief-upload build for $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && archive=$(find . -maxdepth 1 -name "chief-upload-*-$target.tar.gz" -printf '%f\n' | sort -V | tail -n 1) \
    && test -n "$archive" \
    && grep "  $archive\$" SHA256SUMS | sha256sum -c - \
    && tar -xzf "$archive" \
    && install -m 755 "${archive%.tar.gz}/chief-upload" /chief-upload

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=unpack /chief-upload /usr/local/bin/chief-upload
# 65532: the base image's "nonroot" user, by number so any host resolves it.
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["chief-upload"]
