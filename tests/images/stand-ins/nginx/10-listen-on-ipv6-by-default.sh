#!/bin/sh
# As the official image does at start: add an IPv6 listen on port 80 to default.conf when the
# kernel has IPv6, the file can be written and it is still the one the package shipped.
set -e

ME=$(basename "$0")
CONF=/etc/nginx/conf.d/default.conf

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$@"
}

[ -f /proc/net/if_inet6 ] || { say "$ME: info: ipv6 not available"; exit 0; }
[ -f "$CONF" ] || { say "$ME: info: $CONF is not a file or does not exist"; exit 0; }
touch "$CONF" 2>/dev/null || { say "$ME: info: can not modify $CONF (read-only file system?)"; exit 0; }
if grep -q 'listen  \[::]:80;' "$CONF"; then
    say "$ME: info: IPv6 listen already enabled"
    exit 0
fi
md5sum -c /usr/share/nginx/default.conf.md5 >/dev/null 2>&1 || {
    say "$ME: info: $CONF differs from the packaged version"
    exit 0
}
sed -i -E 's,listen       80;,listen       80;\n    listen  [::]:80;,' "$CONF"
say "$ME: info: Enabled listen on IPv6 in $CONF"
