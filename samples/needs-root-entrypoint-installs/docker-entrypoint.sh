#!/bin/sh
set -e
# Extra packages, chosen when the container starts.
if [ -n "$EXTRA_PACKAGES" ]; then
    apk add --no-cache $EXTRA_PACKAGES
fi
exec "$@"
