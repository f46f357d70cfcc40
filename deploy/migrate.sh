#!/bin/sh
# The one-off migrate service of docker-compose.yml. It starts as root only to hand the audit head's
# volume to the app's user (a new named volume belongs to root), then migrates as that user,
# connected as the database owner: DATABASE_URL names the owner without a password, and
# DATABASE_PASSWORD_FILE names the postgres_password secret.
set -eu
app_group="$(id -g accessadmin)"
install -d -o accessadmin -g "$app_group" -m 0750 /var/lib/accessadmin/audit
exec setpriv --reuid=accessadmin --regid="$app_group" --init-groups \
    python manage.py migrate --noinput
