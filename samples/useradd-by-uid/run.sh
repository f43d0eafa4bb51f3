#!/bin/sh
set -e
date > /home/svc/app/last-run
id
