# One image for the worker, Flower, the metrics exporter and the sandbox gateway.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Dependencies first, from the lock file (exact versions and hashes): a code change reuses this
# layer, and every build installs the same packages.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
RUN pip install --no-deps . && useradd --system --no-create-home --uid 10001 otp
# Not root: a compromised process cannot change the image's code.
USER otp
CMD ["celery", "-A", "worker", "worker", "--pool", "threads", "--concurrency", "64", "--loglevel", "INFO"]
