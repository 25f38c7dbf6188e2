# One image for the api and the worker; compose.yaml picks the command.
# Stage 1: production dependencies only (tsx runs the TypeScript sources at run time).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY api/package.json api/
COPY worker/package.json worker/
COPY client/package.json client/
COPY charts/package.json charts/
COPY dataset/package.json dataset/
COPY tools/package.json tools/
COPY test/package.json test/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime, as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
# All of /app: the root node_modules and any nested workspace node_modules.
COPY --from=deps /app ./
COPY package.json tsconfig.base.json ./
COPY shared shared
COPY api api
COPY worker worker
COPY client client
COPY charts charts
COPY dataset dataset
COPY tools tools
COPY scripts scripts
COPY data data
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/src/server.ts"]
