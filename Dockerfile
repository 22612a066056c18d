# fitq: the API and the workers run from this one image (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FITQ_DATA_DIR=/data

WORKDIR /app
# libgomp: numba's OpenMP threading layer, on which the engine's LSTM runs a batch's row ranges side by side.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY worker ./worker
COPY service ./service
RUN pip install '.[s3]' && useradd --create-home --uid 1000 fitq && mkdir -p /data /cache && chown fitq /data /cache

USER fitq
VOLUME ["/data"]
EXPOSE 8000
# Without REDIS_URL this starts an embedded redis-server and one worker in the container;
# docker-compose.yml sets REDIS_URL and runs the workers as their own service.
CMD ["fitq", "serve", "--host", "0.0.0.0", "--port", "8000"]
