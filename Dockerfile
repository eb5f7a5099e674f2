# syntax=docker/dockerfile:1
# MegaMon container image: build with the Rust toolchain, run on distroless (glibc,
# no shell, non-root). Build from the repository root:
#   docker build -t megamon:dev \
#     --build-arg MEGAMON_GIT_COMMIT="$(git rev-parse --short=12 HEAD)" \
#     --build-arg MEGAMON_BUILD_DATE="$(git log -1 --format=%cI)" .

FROM rust:1-bookworm AS build
# .git is not in the build context, so build.rs takes these for megamon_build_info.
ARG MEGAMON_GIT_COMMIT=""
ARG MEGAMON_BUILD_DATE=""
# The `dist` profile (release with whole-program LTO, optimised for size: less code to page in,
# see BENCHMARKS.md), without debug info; the symbol table stays, so a
# backtrace still names its functions.
ENV MEGAMON_GIT_COMMIT=${MEGAMON_GIT_COMMIT} \
    MEGAMON_BUILD_DATE=${MEGAMON_BUILD_DATE} \
    CARGO_PROFILE_DIST_DEBUG=false \
    CARGO_PROFILE_DIST_STRIP=debuginfo \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked -p megamon \
    && install -m 0755 target/dist/megamon /megamon

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /megamon /megamon
# The nonroot user of distroless (65532); the manifests run as the same id.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/megamon"]
