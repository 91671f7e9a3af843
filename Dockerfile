# provmon: `provmon run` as a non-root user, dependencies exactly as locked in uv.lock.
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir --disable-pip-version-check 'uv>=0.5'
WORKDIR /src
# dependencies first: this layer is reused until pyproject.toml or uv.lock change
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY monitor ./monitor
COPY probes ./probes
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/provmon --create-home provmon
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PROVMON_DATA_DIR=/var/lib/provmon
USER provmon
WORKDIR /var/lib/provmon
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["provmon"]
CMD ["run", "--config", "/etc/provmon/provmon.yaml"]
