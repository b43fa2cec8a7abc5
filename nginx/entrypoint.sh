#!/bin/sh
# Renders a Cascade nginx template from the environment, as nginx/render.ts does, and runs
# nginx in the foreground. Usage: cascade-nginx TEMPLATE
#
# Every ${NAME} of the template must be set (else exit 2 naming it). For the load balancer,
# EDGES=host:port,host:port builds EDGE_SERVERS, with EDGE_MAX_FAILS (2) and
# EDGE_FAIL_TIMEOUT (10s). NGINX_PREFIX (/var/lib/cascade-nginx) holds the rendered file, the
# pid file and nginx's temp directories.
set -eu

template=${1:?usage: cascade-nginx TEMPLATE}
prefix=${NGINX_PREFIX:-/var/lib/cascade-nginx}
RTMP_MODULE=${RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}
export RTMP_MODULE

if [ -n "${EDGES:-}" ] && [ -z "${EDGE_SERVERS:-}" ]; then
    EDGE_SERVERS=""
    for edge in $(echo "$EDGES" | tr ',' ' '); do
        EDGE_SERVERS="$EDGE_SERVERS server $edge max_fails=${EDGE_MAX_FAILS:-2} fail_timeout=${EDGE_FAIL_TIMEOUT:-10s};"
    done
    export EDGE_SERVERS
fi

names=$(grep -o '\${[A-Z][A-Z0-9_]*}' "$template" | tr -d '${}' | sort -u)
for name in $names; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "Cannot render $template: no value for $name" >&2
        exit 2
    fi
done

# The HLS directory may be a fresh volume; nginx's workers write into it as www-data.
if [ -n "${HLS_PATH:-}" ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$HLS_PATH"
    chown www-data:www-data "$HLS_PATH"
fi

mkdir -p "$prefix"
# Only the template's own names are substituted: nginx's $variables stay as they are.
envsubst "$(printf '${%s} ' $names)" < "$template" > "$prefix/nginx.conf"
user=""
if [ "$(id -u)" = 0 ]; then user="user www-data;"; fi
exec nginx -p "$prefix/" -c "$prefix/nginx.conf" -g "daemon off; $user"
