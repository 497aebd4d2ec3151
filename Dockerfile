# driftwarden service image. CI does not build it (no Docker engine there): keep it in step
# with the CLI by reading. Usage:
#   docker build -t driftwarden .
#   docker run -v $PWD/config/service.yaml:/etc/driftwarden/config.yaml:ro driftwarden
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache

WORKDIR /app
# Wheels exist for every dependency (numba, confluent-kafka with librdkafka, datasketches),
# so no compiler is needed in the image.
COPY pyproject.toml README.md ./
COPY detectors ./detectors
COPY stream ./stream
# The demo (in-process mock cluster, no network) runs every compiled kernel once, so numba
# caches them in the image and the service does not spend its first tens of seconds
# compiling; the cache must stay writable by the service's user for numba to use it.
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin driftwarden \
    && mkdir -p /etc/driftwarden /tmp/numba-cache \
    && driftwarden demo > /dev/null \
    && chown -R driftwarden /tmp/numba-cache

USER driftwarden
EXPOSE 9464
ENTRYPOINT ["driftwarden"]
CMD ["run", "--config", "/etc/driftwarden/config.yaml"]
