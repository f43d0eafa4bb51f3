#!/bin/sh
set -e
# It adds to its data and writes its pid file, in its WORKDIR.
date > /opt/svc/data/last-run
echo $$ > /opt/svc/pid
id
