#!/bin/sh
echo "app running as $(id -u)"
