# syntax=docker/dockerfile:1
# The chief-upload image: the static musl binary from the release archives, CA roots, and
# a passwd/group naming one non-root user, nothing else (FROM scratch: no shell, no
# package manager, no libc). The binary is not rebuilt here: it is the one in the archive
# that CI tested and that users download, checked against SHA256SUMS.
#
# Built and pushed (linux/amd64 and linux/arm64) by .github/workflows/release.yml on a
# tag, from the archives in dist/out. By hand, for the machine's own architecture:
#   dist/package.sh x86_64-unknown-linux-musl --release     # (or aarch64-..., --zig)
#   docker build -t chief-upload .
#   docker run --rm -e CHIEF_API_KEY -e CHIEF_PROJECT_ID -v "$PWD:/data:ro" chief-upload /data
# Without a registry: dist/image-check.sh builds it with podman from a local Debian
# base (--build-arg UNPACK_BASE=localhost/chief-upload-unpack:bookworm) and runs it.

# The unpack stage only checks and unpacks the archive and gathers the files of the
# final stage under /rootfs; nothing else of it is kept. Any Debian-like image with
# bash, coreutils, tar and apt will do; it runs on the build machine's platform.
ARG UNPACK_BASE=debian:bookworm-slim
FROM --platform=$BUILDPLATFORM ${UNPACK_BASE} AS unpack
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# CA roots: Debian's ca-certificates, installed only when the base lacks them, as
# debian:bookworm-slim does (a base that has them needs no network here). Not pinned:
# the version is whatever bookworm ships that day, security updates included.
# hadolint ignore=DL3008
RUN if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && test -s /etc/ssl/certs/ca-certificates.crt
COPY dist/out/ /dist/
WORKDIR /dist
# 65532: the "nonroot" user of distroless images, which this image used to be based on,
# so a volume prepared for it still fits.
RUN case "$TARGETARCH" in \
        amd64) target=x86_64-unknown-linux-musl ;; \
        arm64) target=aarch64-unknown-linux-musl ;; \
        *) echo "no chief-upload build for $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && archive=$(find . -maxdepth 1 -name "chief-upload-*-$target.tar.gz" -printf '%f\n' | sort -V | tail -n 1) \
    && test -n "$archive" \
    && grep "  $archive\$" SHA256SUMS | sha256sum -c - \
    && tar -xzf "$archive" \
    && install -D -m 755 "${archive%.tar.gz}/chief-upload" /rootfs/usr/local/bin/chief-upload \
    && install -D -m 644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
    && printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
        'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /rootfs/etc/passwd \
    && printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' > /rootfs/etc/group \
    && chmod 644 /rootfs/etc/passwd /rootfs/etc/group \
    && install -d -m 755 /rootfs/data /rootfs/home \
    && install -d -m 700 -o 65532 -g 65532 /rootfs/home/nonroot \
    && install -d -m 1777 /rootfs/tmp

FROM scratch
# The files keep their owners and modes (a copy between stages does, in BuildKit and
# buildah): all root's, but for the user's home.
COPY --from=unpack /rootfs/ /
# By number, so no passwd lookup is needed to start; HOME holds the hash cache
# (~/.cache/chief) and config (~/.config/chief).
USER 65532:65532
ENV HOME=/home/nonroot
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/chief-upload"]
