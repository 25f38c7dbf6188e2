# One image for the api and the worker; compose.yaml picks the command.
# Stage 1: production dependencies only.
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

# Stage 2: the compiled JavaScript (npm run build: tsc -b tsconfig.build.json, then the .lua files
# beside it), which starts seconds faster than tsx compiling the sources at every start
# (docs/operations.md). It needs the dev dependencies (typescript), which stay in this stage.
FROM node:20-bookworm-slim AS build
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
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY shared shared
COPY api api
COPY worker worker
COPY client client
COPY charts charts
COPY dataset dataset
COPY tools tools
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
COPY client client
COPY charts charts
COPY dataset dataset
COPY tools tools
COPY scripts scripts
COPY data data
# The sources stay: the API bundles the dashboard from api/web/ at run time, and the scripts
# (npm run load, backup) run through tsx. The CLI (`node scripts/meteorites.js <command>`) runs its
# compiled scripts/dist/cli.js: the build's stamp (scripts/dist/.built) is newer than the sources.
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/dataset/dist dataset/dist
COPY --from=build /app/charts/dist charts/dist
COPY --from=build /app/tools/dist tools/dist
COPY --from=build /app/api/dist api/dist
COPY --from=build /app/worker/dist worker/dist
COPY --from=build /app/client/dist client/dist
COPY --from=build /app/scripts/dist scripts/dist
USER node
EXPOSE 3000
# `production`: every @meteorites/* package resolves to its compiled dist/ (the packages' exports).
CMD ["node", "--conditions=production", "api/dist/server.js"]
