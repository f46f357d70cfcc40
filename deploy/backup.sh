#!/bin/sh
# The backup service of docker-compose.yml: a pg_dump of the database (it holds the audit trail)
# every BACKUP_INTERVAL_SECONDS into BACKUP_DIR, each kept BACKUP_KEEP_DAYS days. `backup.sh once`
# makes one dump and stops. A dump is written under a temporary name and renamed when complete,
# so a file named accessadmin-*.dump is always whole. Restore with
#     pg_restore --clean --if-exists -d accessadmin accessadmin-<time>.dump
# as the owner, then check the chain: `manage.py audit_verify` (the audit head file is not in the
# dump: a restored database older than the head is reported as broken, as it should be).
set -eu
: "${BACKUP_DIR:=/backups}" "${BACKUP_INTERVAL_SECONDS:=86400}" "${BACKUP_KEEP_DAYS:=14}"
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi
umask 077

dump() {
    name="$BACKUP_DIR/accessadmin-$(date -u +%Y%m%dT%H%M%SZ).dump"
    if pg_dump --format=custom --file="$name.partial"; then
        mv "$name.partial" "$name"
        echo "backup: wrote $name"
    else
        rm -f "$name.partial"
        echo "backup: pg_dump failed" >&2
        return 1
    fi
    find "$BACKUP_DIR" -name 'accessadmin-*.dump' -mtime +"$BACKUP_KEEP_DAYS" -delete
}

if [ "${1:-}" = once ]; then
    dump
    exit
fi
while :; do
    dump || true
    sleep "$BACKUP_INTERVAL_SECONDS"
done
