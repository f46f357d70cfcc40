"""What the broker (Redis) keeps across its own restart. Runs survive a broker that loses its
queue (beat sends overdue runs again), but production wants the append-only file so nothing
waits a stale period for that."""

from __future__ import annotations

import redis
from django.conf import settings

AOF, SNAPSHOTS, NONE, UNKNOWN, UNREACHABLE = "aof", "rdb", "none", "unknown", "unreachable"


def broker_persistence() -> str:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
    )
    try:
        appendonly = client.config_get("appendonly").get("appendonly")
        save = client.config_get("save").get("save")
    except redis.ResponseError:
        return UNKNOWN  # managed Redis services refuse CONFIG
    except redis.RedisError:
        return UNREACHABLE
    finally:
        client.close()
    if appendonly == "yes":
        return AOF
    return SNAPSHOTS if save else NONE


def broker_persistence_problem(persistence: str) -> tuple[bool, str]:
    """(fatal, message) about the broker's persistence; (False, "") when all is well."""
    production = settings.ENVIRONMENT == "production"
    if persistence == AOF:
        return False, ""
    if persistence == UNREACHABLE:
        return True, f"cannot reach {settings.CELERY_BROKER_URL.split('@')[-1]}"
    if persistence == UNKNOWN:
        return False, "Redis refuses CONFIG; make sure it keeps an append-only file"
    what = "only snapshots" if persistence == SNAPSHOTS else "nothing"
    return production and persistence == NONE, (
        f"Redis keeps {what} across a restart: queued runs wait a stale period to be sent "
        "again. Set appendonly yes (docker-compose.yml does)."
    )
