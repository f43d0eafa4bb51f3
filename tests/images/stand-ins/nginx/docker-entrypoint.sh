#!/bin/sh
# The official nginx image's entrypoint, as it behaves: when the command is nginx, run the
# scripts of /docker-entrypoint.d in version order (*.envsh sourced, *.sh executed; both only
# when executable), then exec the command.
set -e

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$@"
}

if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    scripts=$(find /docker-entrypoint.d/ -follow -type f -print | sort -V)
    if [ -n "$scripts" ]; then
        say "$0: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        for f in $scripts; do
            case $f in
            *.envsh | *.sh)
                if [ ! -x "$f" ]; then
                    say "$0: Ignoring $f, not executable"
                elif [ "${f%.envsh}" != "$f" ]; then
                    say "$0: Sourcing $f"
                    . "$f"
                else
                    say "$0: Launching $f"
                    "$f"
                fi
                ;;
            *) say "$0: Ignoring $f" ;;
            esac
        done
        say "$0: Configuration complete; ready for start up"
    else
        say "$0: No files found in /docker-entrypoint.d/, skipping configuration"
    fi
fi

exec "$@"
