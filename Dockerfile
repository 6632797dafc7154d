# One image for every Red Whistle service (docker-compose.yml builds it once).
FROM python:3.11-slim-bookworm
WORKDIR /app
# .dockerignore keeps out .venv, var/ (stores with token hashes), .git and
# test and bench output.
COPY . .
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin redwhistle \
    && mkdir -p /data && chown redwhistle /data
# Without DATABASE_URL the store is /data/redwhistle.sqlite (adapters/settings.py).
ENV REDWHISTLE_HOME=/data
VOLUME ["/data"]
USER redwhistle
EXPOSE 8000
CMD ["redwhistle", "serve", "--host", "0.0.0.0", "--port", "8000"]
