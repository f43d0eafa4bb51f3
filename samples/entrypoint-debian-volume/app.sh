#!/bin/sh
id > /data/written-by-app
