# The cxpulse image: worker, simulator and the one-shot init (topics + migrations) of docker-compose.yml.
# A plain (non-editable) install: the wheel carries schemas/ and config/ (hatch force-include).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY schemas ./schemas
COPY streams ./streams
RUN pip install . \
 && cd / && rm -rf /src \
 && useradd --system --create-home --uid 10001 --user-group cxpulse \
 && mkdir -p /data && chown cxpulse:cxpulse /data

USER cxpulse
WORKDIR /data
# Container defaults; docker-compose.yml sets the rest (Kafka, ClickHouse) through CXPULSE_* too.
ENV CXPULSE_DATA_DIR=/data \
    CXPULSE_METRICS_HOST=0.0.0.0 \
    CXPULSE_METRICS_PORT=9464
# worker metrics; gateway HTTP and its metrics (`cxpulse gateway`)
EXPOSE 9464 8088 9465
ENTRYPOINT ["cxpulse"]
CMD ["worker"]
