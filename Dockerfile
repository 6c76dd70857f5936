# The gateway: one port, JWT check, spawns and proxies each student's
# workspace container. Built by compose.yaml (service `gateway`), or:
#
#   docker build -t workspace-gateway:latest .
#
# It talks to the Docker Engine through its socket (or DOCKER_HOST) and must
# reach the workspaces' bridge IPs from the host side; compose.yaml explains the
# host network mode and the socket's risk.
#
# Pin the base by digest for reproducible builds:
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:<digest> .
ARG NODE_IMAGE=node:20-bookworm-slim

###############################################################################
# build: TypeScript -> dist/ (type check, then one bundle), then only the
# production dependencies (dockerode is loaded from them, not bundled)
###############################################################################
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Dependencies first, so a source change does not refetch them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json rolldown.config.mjs ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

###############################################################################
# runtime
###############################################################################
FROM ${NODE_IMAGE}

LABEL org.opencontainers.image.title="workspace-gateway" \
      org.opencontainers.image.description="One authenticated URL per student for a VS Code (code-server) workspace container"

# MALLOC_TRIM_THRESHOLD_: glibc keeps up to 64 MiB of freed memory instead of
# giving it back to the kernel after every garbage collection and faulting it
# in again (proxied downloads cost up to 3x the CPU otherwise; README, "The C
# allocator").
ENV NODE_ENV=production \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    MALLOC_TRIM_THRESHOLD_=67108864
WORKDIR /app

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `process` runtime's default workspace (found beside package.json:
# images/demo-workspace/server.mjs).
COPY images/demo-workspace/server.mjs ./images/demo-workspace/server.mjs

# The process runtime keeps per-user folders under ./data (GATEWAY_DATA_ROOT);
# pre-warm jobs live in ./state (GATEWAY_STATE_DIR, a volume in compose).
RUN mkdir -p /app/data /app/state && chown node:node /app/data /app/state

# Non-root: the base image's `node` user (uid 1000). To use the engine socket
# (root:docker, mode 660 on most hosts) the container needs the socket's group
# as a supplementary group: `group_add: ["<gid of /var/run/docker.sock>"]` in
# compose (docker run --group-add). Whoever can use that socket is root on the
# host all the same; prefer a socket proxy (see compose.yaml).
USER node

EXPOSE 8080

# No curl in the slim image: Node's fetch. It asks the port from GATEWAY_PORT
# on loopback; with GATEWAY_HOST bound to one address, override the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.GATEWAY_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "dist/main.js"]
