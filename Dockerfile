# Community Guard container image: `docker compose up -d` (see docker-compose.yml and
# docs/operations.md). Two stages: the first builds a virtual environment with the
# project installed, the second is a slim runtime with CJK fonts (Chinese text on gate
# posters and charts) and the PostgreSQL client (for `community-guard backup`).

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY scheduler ./scheduler
COPY messages ./messages
RUN /opt/venv/bin/pip install .

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home community-guard \
    && mkdir -p /app/data /app/backups \
    && chown community-guard:community-guard /app/data /app/backups
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
USER community-guard
VOLUME ["/app/data", "/app/backups"]
# 8080: webhook (WEBHOOK_PORT); 9100: health and metrics (METRICS_PORT), both optional.
EXPOSE 8080 9100
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD ["community-guard", "check", "--timeout", "5"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["run"]
