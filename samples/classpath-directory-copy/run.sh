#!/bin/sh
ls "$2" > /dev/null && id
