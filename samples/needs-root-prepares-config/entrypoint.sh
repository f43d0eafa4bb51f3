#!/bin/sh
echo "listen: ${PORT:-8080}" > /etc/app/app.yml
exec "$@"
