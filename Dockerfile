# The cxpulse worker / simulator image. The wheel carries schemas/ and config/ (hatch force-include).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY config ./config
RUN pip install . && useradd --system --create-home --uid 10001 cxpulse && mkdir -p /data && chown cxpulse /data
USER cxpulse
WORKDIR /data
ENV CXPULSE_DATA_DIR=/data CXPULSE_METRICS_HOST=0.0.0.0
EXPOSE 9464
ENTRYPOINT ["cxpulse"]
CMD ["worker"]
