# syntax=docker/dockerfile:1
# Two stages: `build` compiles the locked dependencies into a virtualenv; the runtime image gets
# that virtualenv, the application code once, and the shared libraries python-ldap needs: no
# compilers, headers, tests or stand-ins. The base is pinned by digest; to move it on, look the
# new digest up (`docker buildx imagetools inspect python:3.11-slim-bookworm`) and change both.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# Every file checked against the hash in the lock (scripts/lock writes it from pyproject.toml).
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home accessadmin
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY manage.py ./
COPY accessadmin ./accessadmin
COPY onboarding ./onboarding
COPY web ./web
COPY api ./api
COPY scim ./scim
COPY templates ./templates
COPY static ./static
RUN ACCESSADMIN_ENV=local python manage.py collectstatic --noinput \
    && python -m compileall -q accessadmin onboarding web api scim
USER 10001
ENV ACCESSADMIN_ENV=production
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=15s --start-period=30s --retries=4 \
    CMD ["python", "-m", "accessadmin.probe", "--port", "8000"]
CMD ["gunicorn", "accessadmin.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--threads", "4", "--timeout", "60", "--graceful-timeout", "30", "--access-logfile", "-"]
