# syntax=docker/dockerfile:1
#
# teardown-guard container image.
#
#   docker build -t teardown-guard:0.1.0 .
#
# Two stages:
#   build    - `npm ci` from the lockfile, `npm run build`: type check, then build.ts bundles the
#              CLI and every dependency into dist/ (self-contained ES modules; a bundle loads in
#              less than half the memory of the same code as separate files, see build.ts)
#   runtime  - distroless Node.js 24 (no shell, no package manager), non-root uid/gid 65532,
#              only dist/, bin/ and package.json (no node_modules), all owned by root and
#              read-only to the process, so the pod can run with readOnlyRootFilesystem.
#
# The entrypoint is the `teardown-guard` CLI (bin/teardown-guard.js, which runs dist/cli.js when
# present); manifests/base/deployment.yaml passes `serve --config /etc/teardown-guard/config/config.yaml`,
# which is also the default command here. Nothing is written to the image's filesystem at run time:
# logs go to stdout, the serving certificate and config are mounted read-only.
#
# Base images are build arguments so a site can point them at its own mirror or pin digests:
#   docker build --build-arg BUILD_IMAGE=<mirror>/node:24-bookworm-slim \
#                --build-arg RUNTIME_IMAGE=<mirror>/distroless/nodejs24-debian12:nonroot .
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---------------------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Lockfile first, so the dependency layer is cached until package*.json change.
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script to type check and bundle (esbuild ships
# its binary as an optional dependency).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json build.ts ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="teardown-guard" \
      org.opencontainers.image.description="Validating admission webhook and audit-log reviewer that keeps Kubernetes teardowns safe" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# Owned by root, not writable by uid 65532: the process cannot modify its own code.
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin/teardown-guard.js ./bin/teardown-guard.js
# The distroless "nonroot" user; the Deployment's securityContext asks for the same uid/gid.
USER 65532:65532
EXPOSE 8443
# No shell in the image: exec form, node by absolute path (the script's #!/usr/bin/env would need one).
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/teardown-guard.js"]
CMD ["serve", "--config", "/etc/teardown-guard/config/config.yaml"]
