#!/bin/sh
id -u
