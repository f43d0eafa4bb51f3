#!/bin/sh
set -e
chown 10001:10001 /app
exec setpriv --reuid=10001 --regid=10001 --init-groups "$@"
