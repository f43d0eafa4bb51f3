#!/bin/sh
set -e
chown -R svc:svc /var/lib/svc
envsubst < /usr/share/svc/config.tmpl > /etc/svc/config.yml
exec "$@"
