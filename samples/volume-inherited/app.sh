#!/bin/sh
set -e
id
ls -ld /data /app
