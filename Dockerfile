# syntax=docker/dockerfile:1.7
# Build: install the locked dependencies into /app/.venv with uv.
FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-install-project
COPY . /app

# Run: same base image (the venv's python path must match), as an unprivileged user.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 hub && useradd --system --uid 10001 --gid hub --home /app hub
WORKDIR /app
COPY --from=build --chown=hub:hub /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 REFERRAL_HUB_HUB_ENV=production FLASK_APP=wsgi
USER hub
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
