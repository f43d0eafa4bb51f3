#!/bin/sh
# As the official image does at start: render /etc/nginx/templates/*.template with the
# environment into /etc/nginx/conf.d (the NGINX_ENVSUBST_* variables move both), when the
# template directory exists; a conf.d the user cannot write is reported, not fatal.
# (The official script also renders *.stream-template files; no test here needs them.)
set -e

ME=$(basename "$0")
template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$@"
}

[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
    say "$ME: ERROR: $template_dir exists, but $output_dir is not writable"
    exit 0
fi
defined_envs=$(env | cut -d= -f1 | grep -E -- "$filter" | sed 's/.*/${&}/' | tr '\n' ' ')
find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative=${template#"$template_dir/"}
    output=$output_dir/${relative%"$suffix"}
    mkdir -p "$(dirname "$output")"
    say "$ME: Running envsubst on $template to $output"
    envsubst "$defined_envs" <"$template" >"$output"
done
