#!/bin/sh
set -e
if [ "$(id -u)" = "0" ]; then
    chown -R svc:svc /data
    exec su-exec svc "$0" "$@"
fi
exec "$@"
