# One image for the api and the worker; compose.yaml picks the command.
# Stage 1: production dependencies only.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY api/package.json api/
COPY worker/package.json worker/
COPY test/package.json test/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the compiled JavaScript (tsc -b tsconfig.build.json), which starts faster than tsx
# compiling the sources at every start (figures in docs/operations.md).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY api/package.json api/
COPY worker/package.json worker/
COPY test/package.json test/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY shared shared
COPY api api
COPY worker worker
COPY scripts scripts
RUN npm run build

# Stage 3: the runtime, as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
# All of /app: the root node_modules and any nested workspace node_modules.
COPY --from=deps /app ./
COPY package.json tsconfig.base.json ./
COPY shared shared
COPY api api
COPY worker worker
COPY scripts scripts
COPY data data
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/api/dist api/dist
COPY --from=build /app/worker/dist worker/dist
USER node
EXPOSE 3000
# `production`: @meteorites/shared resolves to its compiled dist/ (shared/package.json exports).
CMD ["node", "--conditions=production", "api/dist/server.js"]
