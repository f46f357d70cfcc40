FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml ./
COPY accessadmin ./accessadmin
COPY onboarding ./onboarding
COPY web ./web
RUN pip install --no-cache-dir .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
RUN ACCESSADMIN_ENV=local python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 accessadmin
USER accessadmin
ENV PYTHONUNBUFFERED=1 ACCESSADMIN_ENV=production
EXPOSE 8000
CMD ["gunicorn", "accessadmin.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
