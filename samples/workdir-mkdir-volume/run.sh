#!/bin/sh
set -e
# The state this app writes: each directory a RUN step made for it.
date > /srv/app/data/started
date > /srv/app/logs/app.log
date > /var/lib/app-cache/warm
id
