# syntax=docker/dockerfile:1
#
# Multi-stage build (docs/operations.md, "Docker"):
#   builder  Debian + Node 24 with the dev tools, the sources and every dependency:
#            npm ci, npm run build (tsc -> dist/, esbuild -> web/dist/), npm prune --omit=dev
#   base     the slim runtime: Debian bookworm + Node 24, production settings, non-root user
#   release  base + the built server (dist/, web/dist/) + production node_modules
#
#   docker build -t webrtcsignaling .
#   docker run --rm -p 8080:8080 -p 40000-40099:40000-40099/udp \
#     -e JWT_SECRET=... -e PUBLIC_IPV4=<host address> -e STATIC_PORTS=40000-40099 webrtcsignaling
#
# test/integration/ops-build.test.ts runs the same steps outside Docker.

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm AS builder
WORKDIR /build
# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS base
ENV NODE_ENV=production \
    LOG_PRETTY=false \
    PORT_NUMBER=8080 \
    BIND_ADDRESS=0.0.0.0 \
    MEDIA_LISTEN_IPV4=0.0.0.0 \
    STATIC_PORTS=40000-40999
# GStreamer for server-made low video layers (src/media/transcode/, docs/media.md "Transcoding"); without
# it transcoding is off. Its Python bindings run the pipeline with keyframes on demand (gst-runner.py);
# without them gst-launch-1.0 runs it, with periodic keyframes only. Skipped when present
# (test/integration/ops-build.test.ts replays this file).
RUN (command -v gst-launch-1.0 >/dev/null && gst-inspect-1.0 --exists vp8enc && \
     /usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstVideo', '1.0')" 2>/dev/null) || \
    (apt-get update && apt-get install -y --no-install-recommends gstreamer1.0-tools \
       gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gst-1.0 gir1.2-gst-plugins-base-1.0 \
       && rm -rf /var/lib/apt/lists/*)
WORKDIR /app

FROM base AS release
# Owned by root, run as "node" (uid 1000, from the image): the server cannot rewrite its own code.
COPY --from=builder /build/package.json ./package.json
COPY --from=builder /build/node_modules ./node_modules
COPY --from=builder /build/dist ./dist
COPY --from=builder /build/web/dist ./web/dist
USER node
# HTTP + WebSocket (/api), and the UDP range of the media plane (STATIC_PORTS).
EXPOSE 8080/tcp
EXPOSE 40000-40999/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/healthcheck.js"]
# SIGTERM drains (members get close 1001, events are flushed) within SHUTDOWN_TIMEOUT_MS.
STOPSIGNAL SIGTERM
# V8's young generation capped at 2 MiB semi-spaces (as `npm start`): the media plane's per-packet
# garbage grew the default 16 MiB ones into ~75 MiB of RSS at 50 listeners (docs/operations.md).
CMD ["node", "--max-semi-space-size=2", "dist/main.js"]
