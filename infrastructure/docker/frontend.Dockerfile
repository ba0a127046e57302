# syntax=docker/dockerfile:1
# Next.js dashboard (services/frontend). Build from the repository root:
#   docker build -f infrastructure/docker/frontend.Dockerfile -t aiops/frontend .
# Until the app lands (no services/frontend/package.json) the image serves a placeholder page, so the
# compose profile and CI can build it today.
FROM node:20-slim AS build
# Baked into the client bundle at build time: where browsers reach the API (REST and /ws).
ARG NEXT_PUBLIC_API_URL=http://localhost:8080
ENV NEXT_PUBLIC_API_URL=${NEXT_PUBLIC_API_URL} NEXT_TELEMETRY_DISABLED=1
WORKDIR /app
COPY services/frontend/ ./
RUN if [ -f package.json ]; then \
      if [ -f package-lock.json ]; then npm ci; else npm install; fi \
      && npm run build \
      && npm prune --omit=dev; \
    fi

FROM node:20-slim
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=3000 HOSTNAME=0.0.0.0
WORKDIR /app
# node (uid 1000) of the base image; numeric so Kubernetes can verify runAsNonRoot.
COPY --from=build --chown=1000:1000 /app ./
USER 1000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["sh", "-c", "if [ -f package.json ]; then exec npm start; else exec node -e \"require('http').createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain'}); res.end('AIOps dashboard placeholder: the Next.js app is not in services/frontend yet.'); }).listen(process.env.PORT, process.env.HOSTNAME)\"; fi"]
