#!/bin/sh
# Start of the key proxy's container (public.ecr.aws/nginx/nginx, no image of our own):
#  1. writes the nginx configuration template (passed in KEY_PROXY_TEMPLATE) where the image's
#     entrypoint renders templates at start (/etc/nginx/templates);
#  2. turns the API_KEYS secret, {"<name>": "<value>", ...} injected by ECS at task start, into the
#     nginx map include $PROXY_KEYS_FILE ("~^Bearer <value>$" "<name>"; one line a key), readable by
#     nginx's master process only, then drops API_KEYS from the environment;
#  3. execs its arguments (the image's /docker-entrypoint.sh nginx -g 'daemon off;').
# Only key *names* and counts are printed, never values. tests/test_key_proxy.py runs this same file.
set -eu

templates="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
if [ -n "${KEY_PROXY_TEMPLATE:-}" ]; then
    mkdir -p "$templates"
    printf '%s\n' "$KEY_PROXY_TEMPLATE" > "$templates/default.conf.template"
fi

# Names: letters, digits, '.', '_' or '-' (up to 64); values: letters, digits, '_' or '-' (16-256).
# Both stay inside nginx's quoted strings, so nothing in a key can change the configuration.
pair='"[A-Za-z0-9][A-Za-z0-9._-]\{0,63\}" *: *"[A-Za-z0-9_-]\{16,256\}"'
compact=$(printf '%s' "${API_KEYS:-}" | tr '\t\r\n' '   ')
pairs=$(printf '%s' "$compact" | grep -o "$pair" || true)
# Whatever is left after removing the valid pairs must be the JSON object's braces and commas.
rest=$(printf '%s' "$compact" | sed "s/$pair//g" | tr -d '{}, ')
trimmed=$(printf '%s' "$compact" | sed 's/^ *//')
if [ -z "$pairs" ] || [ -n "$rest" ] || [ "${trimmed#\{}" = "$trimmed" ]; then
    echo "key-proxy: API_KEYS is not a JSON object of named keys ({\"<name>\": \"<value>\"}, names [A-Za-z0-9._-], values [A-Za-z0-9_-] of 16-256 characters); refusing to start" >&2
    exit 1
fi

keys_file="${PROXY_KEYS_FILE:-/etc/nginx/keys.map}"
umask 077
# "~^Bearer <value>$": a case-sensitive, anchored match (values hold no regex metacharacters).
printf '%s\n' "$pairs" | sed 's/^"\([^"]*\)" *: *"\([^"]*\)"$/"~^Bearer \2$" "\1";/' > "$keys_file.new"
mv "$keys_file.new" "$keys_file"
echo "key-proxy: $(printf '%s\n' "$pairs" | wc -l | tr -d ' ') API key(s): $(printf '%s\n' "$pairs" | sed 's/^"\([^"]*\)".*/\1/' | tr '\n' ' ')"
unset API_KEYS KEY_PROXY_TEMPLATE

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
