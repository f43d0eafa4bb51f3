#!/bin/sh
set -e
# A cache in its WORKDIR.
date > /app/last-run
id
