# One image for the worker, Flower and the sandbox gateway.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
RUN pip install . && useradd --system --no-create-home otp
USER otp
CMD ["celery", "-A", "worker", "worker", "--pool", "threads", "--concurrency", "64", "--loglevel", "INFO"]
