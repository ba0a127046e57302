# syntax=docker/dockerfile:1
# Next.js dashboard (services/frontend). Build from the repository root:
#   docker build -f infrastructure/docker/frontend.Dockerfile -t aiops/frontend .
# Run with API_URL=<the API's address as browsers reach it>; it is read at request time, so one image serves
# every deployment. The build needs only the npm registry: no Google fonts, CDN assets or telemetry.
FROM node:20-slim AS build
ENV NEXT_TELEMETRY_DISABLED=1
WORKDIR /app
COPY services/frontend/package.json services/frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/frontend/ ./
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=3000 HOSTNAME=0.0.0.0 API_URL=http://localhost:8080
WORKDIR /app
# node (uid 1000) of the base image; numeric so Kubernetes can verify runAsNonRoot.
COPY --from=build --chown=1000:1000 /app/package.json /app/next.config.mjs ./
COPY --from=build --chown=1000:1000 /app/node_modules ./node_modules
COPY --from=build --chown=1000:1000 /app/.next ./.next
USER 1000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/login').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["sh", "-c", "exec node_modules/.bin/next start -H \"$HOSTNAME\" -p \"$PORT\""]
