#!/usr/bin/env bash
# test_goclient.sh HTTPD GOCLIENT — httpd against Go's net/http client
# (goclient/main.go, built by the peers/goclient/build test): many
# concurrent connections, keep-alive reuse, 100-continue, ranges,
# streaming. Then SIGTERM, and httpd must exit 0. Then the same over HTTPS
# (httpd -tls-cert/-tls-key with a CA made now, Go verifying against it).
HTTPD="${1:?usage: test_goclient.sh build/examples/httpd goclient}"
GOCLIENT="${2:?usage: test_goclient.sh build/examples/httpd goclient}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GOCLIENT" ] || fail "no $GOCLIENT (the peers/goclient/build test builds it)"
start_httpd
timeout 120 "$GOCLIENT" -url "$URL" -root "$ROOT" || fail "goclient failed (status $?)"
stop_httpd
echo "ok - SIGTERM: httpd exited 0"

make_certs
start_httpd -tls-cert "$T/server.pem" -tls-key "$T/server.key"
case "$URL" in https://*) ;; *) fail "httpd -tls-cert says $URL" ;; esac
timeout 120 "$GOCLIENT" -url "$URL" -root "$ROOT" -cacert "$T/ca.pem" ||
    fail "goclient over https failed (status $?)"
stop_httpd
echo "ok - https: SIGTERM: httpd exited 0"
