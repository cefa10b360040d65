# syntax=docker/dockerfile:1
# The AzuraForge dashboard: the Vite build served by nginx, which proxies /api and /ws to the API.
# Build from the repository root: docker build -f docker/dashboard.Dockerfile -t azuraforge/dashboard .

FROM node:22.20.0-bookworm-slim AS build
WORKDIR /src
COPY azuraforge-dashboard/package.json azuraforge-dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY azuraforge-dashboard/ ./
RUN npm run build

# nginx-unprivileged: the official nginx build that runs as uid 101 and listens on 8080.
FROM nginxinc/nginx-unprivileged:1.28.0-alpine
COPY docker/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=build /src/dist /usr/share/nginx/html
USER 101
EXPOSE 8080
