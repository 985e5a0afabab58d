# syntax=docker/dockerfile:1
#
# Roster in a container: one static binary on a distroless base (CA certificates, no shell, no
# package manager), run as a non-root user.
#
#   docker build -t roster .                                  # from source: the default target
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" \
#     -e ROSTER_SCIM_TOKEN -e GIT_AUTHOR_NAME -e GIT_AUTHOR_EMAIL roster plan
#
# The release workflow builds the `release` target instead, from the Linux binaries it publishes
# (dist/linux-amd64/roster, dist/linux-arm64/roster), so the image holds exactly those.

ARG RUST_IMAGE=rust:1-alpine
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

# Build: Alpine's target is musl, and Rust links musl binaries statically, so ring, libgit2,
# zlib and mimalloc (C, built by their crates with musl's gcc) end up inside the one binary.
FROM ${RUST_IMAGE} AS build
# musl's headers and C runtime objects, whichever version the Rust image's Alpine has.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
# Symbols kept, line tables dropped (as the release workflow builds them).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin roster \
    && cp target/release/roster /roster

# The released binaries, one per platform (docker buildx sets TARGETARCH: amd64, arm64).
FROM ${BASE_IMAGE} AS release
ARG TARGETARCH
COPY --chmod=0755 dist/linux-${TARGETARCH}/roster /usr/local/bin/roster
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["--help"]

# The default target: the binary built above.
FROM ${BASE_IMAGE}
COPY --from=build --chmod=0755 /roster /usr/local/bin/roster
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["--help"]
