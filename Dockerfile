# syntax=docker/dockerfile:1.7
# One Dockerfile for the three server images; COMPONENT picks which:
#   docker build --build-arg COMPONENT=vault-node     -t ghcr.io/keyfleet/vault-node:0.1.0 .
#   docker build --build-arg COMPONENT=directory-node -t ghcr.io/keyfleet/directory-node:0.1.0 .
#   docker build --build-arg COMPONENT=operator       -t ghcr.io/keyfleet/operator:0.1.0 .
# TypeScript runs as is on Node 24 (type stripping), so there is no compile stage: the deps stage
# installs only the component's production dependencies, the runtime stage is distroless, non-root.
ARG NODE_BUILD_IMAGE=node:24-bookworm-slim
ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# curve25519-dalek WASM for the sdk's VRF hot paths (sdk/wasm/curve25519; without it the sdk
# falls back to libsodium). Debian's rustc 1.63 and wasm32 std, the crate's lock resolved for them;
# fetches crates from crates.io. (Not built in CI here: no Docker engine on the dev machines.)
FROM debian:bookworm AS curve-wasm
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends rustc cargo libstd-rust-dev-wasm32 ca-certificates >/dev/null
WORKDIR /crate
COPY sdk/wasm/curve25519/ ./
RUN cargo build --release --locked --target wasm32-unknown-unknown

FROM ${NODE_BUILD_IMAGE} AS deps
ARG COMPONENT
RUN test -n "${COMPONENT}" || (echo "build with --build-arg COMPONENT=vault-node|directory-node|operator" && false)
WORKDIR /app
# npm ci checks the lock against every workspace manifest, so all of them come in.
COPY package.json package-lock.json .npmrc ./
COPY sdk/package.json sdk/
COPY vault-node/package.json vault-node/
COPY directory-node/package.json directory-node/
COPY operator/package.json operator/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace "${COMPONENT}" --include-workspace-root=false \
 && npm cache clean --force

FROM ${NODE_RUNTIME_IMAGE}
ARG COMPONENT
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keyfleet ${COMPONENT}" \
      org.opencontainers.image.description="keyfleet ${COMPONENT}: HSM-backed key backup and key transparency on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/keyfleet/keyfleet"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/package.json ./
COPY crds ./crds
COPY sdk/package.json ./sdk/
COPY sdk/src ./sdk/src
COPY --from=curve-wasm /crate/target/wasm32-unknown-unknown/release/keyfleet_curve25519.wasm ./sdk/wasm/dist/curve25519.wasm
COPY ${COMPONENT}/package.json ./${COMPONENT}/
COPY ${COMPONENT}/src ./${COMPONENT}/src
WORKDIR /app/${COMPONENT}
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "src/main.ts"]
