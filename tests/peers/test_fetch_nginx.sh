#!/usr/bin/env bash
# test_fetch_nginx.sh FETCH — goc's client (examples/fetch) against nginx,
# a server written by others, started here as the test's own instance
# (config, logs and temp files in the scratch directory) on two free
# loopback ports: plain HTTP, and HTTPS with a CA and an ECDSA P-256
# certificate made now. Checks: bodies byte-exact (a small file, a 20 MiB
# one with -o, several URLs in one run in order), gzip decoded, a redirect
# chain followed on one kept-alive connection, 404 and 502 as exit 22,
# HTTPS with --cacert, without it ("unknown authority", exit 1) and with
# -k, -v's status line, a POST and a PUT of a file (nginx's DAV module
# stores it: compared byte for byte), and keep-alive reuse in nginx's
# access log. Each check prints one "ok" line; the first failure stops
# the test with nginx's logs.
FETCH="${1:?usage: test_fetch_nginx.sh build/examples/fetch}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGINX="${NGINX:-/usr/sbin/nginx}"
[ -x "$NGINX" ] || fail "no $NGINX: tools/deps.sh test installs nginx-light"
LOGS=("$T/error.log" "$T/access.log" "$T/fetch.err")
ok() { echo "ok - $*"; }

# fetch ARGS...: run fetch (bounded), stdout to $T/out, stderr to
# $T/fetch.err; its status in $rc.
fetch() {
    rc=0
    timeout 60 "$FETCH" "$@" >"$T/out" 2>"$T/fetch.err" || rc=$?
    cat "$T/fetch.err" >>"$T/fetch.all"
}
# want STATUS WHAT: fail unless the last fetch exited STATUS.
want() {
    [ "$rc" -eq "$1" ] || fail "$2: fetch exited $rc, want $1"
}
# conns_of PATH: the connection numbers nginx's access log shows for PATH.
conns_of() {
    awk -v p="$1" '$3 == p { print $1 }' "$T/access.log"
}

# ---- nginx -------------------------------------------------------------------
make_root
printf 'a text file, sent gzipped by nginx.\n%.0s' $(seq 2000) >"$ROOT/text.txt"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$ROOT/big20.bin"
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom >"$T/upload.bin"
mkdir -p "$ROOT/put" "$T/tmp"
make_certs
PORT="$(free_port)"
TLS_PORT="$(free_port)"
DEAD_PORT="$(free_port)" # nobody listens: the proxied location answers 502
while [ "$TLS_PORT" = "$PORT" ]; do TLS_PORT="$(free_port)"; done
cat >"$T/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/error.log info;
events { worker_connections 512; }
http {
    types { text/plain txt; text/html html; application/octet-stream bin; }
    default_type application/octet-stream;
    log_format peer '\$connection \$connection_requests \$uri \$status \$request_length \$gzip_ratio';
    access_log $T/access.log peer;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    keepalive_requests 1000;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 1;
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    server {
        listen 127.0.0.1:$PORT;
        listen 127.0.0.1:$TLS_PORT ssl;
        ssl_certificate $T/server.pem;
        ssl_certificate_key $T/server.key;
        root $ROOT;
        location = /r3 { return 301 /r2; }
        location = /r2 { return 302 /r1; }
        location = /r1 { return 301 /hello.txt; }
        location = /close { keepalive_timeout 0; return 301 /r1; }
        location = /to-tls { return 302 https://localhost:$TLS_PORT/r1; }
        location = /missing { return 404; }
        location = /sink { return 200 "ok"; }
        # Proxied, so that nginx reads the body (a "return" discards it).
        location = /post { proxy_pass http://127.0.0.1:$PORT/sink; }
        location = /upstream { proxy_pass http://127.0.0.1:$DEAD_PORT/; }
        location /put/ { dav_methods PUT; create_full_put_path on; }
    }
}
EOF
"$NGINX" -e "$T/error.log" -p "$T" -c "$T/nginx.conf" >"$T/nginx.out" 2>&1 &
PEER_PIDS+=($!)
URL="http://127.0.0.1:$PORT"
TLS_URL="https://127.0.0.1:$TLS_PORT"
for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "$URL/hello.txt" && break
    kill -0 "${PEER_PIDS[0]}" 2>/dev/null || fail "nginx exited: $(cat "$T/nginx.out")"
    sleep 0.1
done
[ $i -lt 100 ] || fail "nginx did not answer within 10 s"
: >"$T/access.log" # the probes above are not the client's

# ---- bodies ------------------------------------------------------------------
fetch "$URL/hello.txt"
want 0 "GET /hello.txt"
cmp -s "$T/out" "$ROOT/hello.txt" || fail "GET /hello.txt: body differs"
ok "a small file, byte-exact"

fetch -o "$T/big.out" "$URL/big20.bin"
want 0 "GET /big20.bin -o"
cmp "$T/big.out" "$ROOT/big20.bin" || fail "GET /big20.bin: body differs"
ok "a 20 MiB file with -o, byte-exact"

fetch "$URL/hello.txt" "$URL/big20.bin" "$URL/data.bin" "$URL/sub/nested.txt" \
    "$URL/big.bin" "$URL/index.html" "$URL/text.txt" "$URL/hello.txt"
want 0 "8 URLs"
cat "$ROOT/hello.txt" "$ROOT/big20.bin" "$ROOT/data.bin" "$ROOT/sub/nested.txt" \
    "$ROOT/big.bin" "$ROOT/index.html" "$ROOT/text.txt" "$ROOT/hello.txt" >"$T/want"
cmp "$T/out" "$T/want" || fail "8 URLs in one run: output differs from their files in order"
ok "8 URLs in one run: the bodies in command-line order"

# ---- gzip --------------------------------------------------------------------
: >"$T/access.log"
fetch -v "$URL/text.txt"
want 0 "GET /text.txt"
cmp -s "$T/out" "$ROOT/text.txt" || fail "GET /text.txt: the decoded body differs"
ratio="$(awk '$3 == "/text.txt" { print $6 }' "$T/access.log")"
[ -n "$ratio" ] && [ "$ratio" != "-" ] || fail "nginx did not gzip /text.txt (ratio '$ratio')"
grep -qi '^< Content-Encoding' "$T/fetch.err" && fail "a decoded body still shows Content-Encoding"
# Asked for by the user: the body is left as sent.
fetch -H 'Accept-Encoding: gzip' "$URL/text.txt"
want 0 "GET /text.txt, Accept-Encoding set"
gzip -dc <"$T/out" | cmp -s - "$ROOT/text.txt" ||
    fail "GET /text.txt with Accept-Encoding: gzip set: not the gzip of the file"
ok "gzip: nginx compressed (ratio $ratio), fetch decoded; left encoded when asked for"

# ---- redirects, errors, keep-alive ---------------------------------------------
: >"$T/access.log"
fetch "$URL/r3"
want 0 "GET /r3"
cmp -s "$T/out" "$ROOT/hello.txt" || fail "GET /r3: not /hello.txt's body"
n="$(wc -l <"$T/access.log")"
[ "$n" -eq 4 ] || fail "GET /r3: nginx logged $n requests, want 4"
c="$(awk '{ print $1 }' "$T/access.log" | sort -u | wc -l)"
[ "$c" -eq 1 ] || fail "GET /r3: 4 requests over $c connections, want 1 (keep-alive)"
ok "redirects 301, 302, 301 followed, all on one kept-alive connection"

: >"$T/access.log"
fetch "$URL/close"
want 0 "GET /close"
cmp -s "$T/out" "$ROOT/hello.txt" || fail "GET /close: not /hello.txt's body"
c="$(awk '{ print $1 }' "$T/access.log" | sort -u | wc -l)"
[ "$c" -eq 2 ] || fail "GET /close: 3 requests over $c connections, want 2"
[ "$(conns_of /close)" != "$(conns_of /r1)" ] || fail "GET /close: a closed connection reused"
fetch --cacert "$T/ca.pem" "$URL/to-tls"
want 0 "GET /to-tls"
cmp -s "$T/out" "$ROOT/hello.txt" || fail "GET /to-tls: not /hello.txt's body"
ok "'Connection: close' honoured (the redirect on a new connection); http to https redirect"

fetch "$URL/missing"
want 22 "GET /missing (404)"
fetch "$URL/upstream"
want 22 "GET /upstream (502)"
fetch "$URL/hello.txt" "$URL/missing" "$URL/data.bin"
want 22 "200, 404, 200"
head -c "$(wc -c <"$ROOT/hello.txt")" "$T/out" | cmp -s - "$ROOT/hello.txt" ||
    fail "200, 404, 200: the first body is not first"
tail -c "$(wc -c <"$ROOT/data.bin")" "$T/out" | cmp -s - "$ROOT/data.bin" ||
    fail "200, 404, 200: the last body is not last"
ok "404 and 502 (an upstream nobody listens on): exit 22, and among others"

# Many requests to one server in one run: fewer connections than requests.
: >"$T/access.log"
urls=()
for ((i = 0; i < 20; i++)); do urls+=("$URL/r1"); done
fetch "${urls[@]}"
want 0 "20 x /r1"
reqs="$(wc -l <"$T/access.log")"
c="$(awk '{ print $1 }' "$T/access.log" | sort -u | wc -l)"
[ "$reqs" -eq 40 ] || fail "20 x /r1: nginx logged $reqs requests, want 40"
[ "$c" -le 20 ] || fail "20 x /r1: $reqs requests over $c connections: redirects not on the same one"
ok "keep-alive: 20 URLs (40 requests with their redirects) over $c connections"

# ---- uploads -----------------------------------------------------------------
: >"$T/access.log"
fetch -d @"$T/upload.bin" "$URL/post"
want 0 "POST /post"
[ "$(cat "$T/out")" = "ok" ] || fail "POST /post: body '$(head -c 100 "$T/out")', want ok"
len="$(awk '$3 == "/post" { print $5 }' "$T/access.log")"
size="$(wc -c <"$T/upload.bin")"
[ -n "$len" ] && [ "$len" -gt "$size" ] || fail "POST /post: nginx read $len bytes, want more than $size"
: >"$T/access.log"
fetch -H 'Expect: 100-continue' -d @"$T/upload.bin" "$URL/post"
want 0 "POST /post, Expect: 100-continue"
[ "$(cat "$T/out")" = "ok" ] || fail "POST /post, 100-continue: body '$(head -c 100 "$T/out")'"
len="$(awk '$3 == "/post" { print $5 }' "$T/access.log")"
[ -n "$len" ] && [ "$len" -gt "$size" ] || fail "POST /post, 100-continue: nginx read $len bytes"
fetch -X PUT -d @"$T/upload.bin" "$URL/put/upload.bin"
want 0 "PUT /put/upload.bin"
cmp "$ROOT/put/upload.bin" "$T/upload.bin" || fail "PUT: the file nginx stored differs"
ok "POST -d @FILE (3 MiB, read by nginx; with and without 100-continue) and PUT: the stored file byte-exact"

# ---- HTTPS -------------------------------------------------------------------
fetch --cacert "$T/ca.pem" "$TLS_URL/hello.txt" "$TLS_URL/big20.bin"
want 0 "https --cacert"
cat "$ROOT/hello.txt" "$ROOT/big20.bin" | cmp -s "$T/out" - || fail "https: bodies differ"
fetch --cacert "$T/ca.pem" "https://localhost:$TLS_PORT/text.txt"
want 0 "https://localhost --cacert"
cmp -s "$T/out" "$ROOT/text.txt" || fail "https://localhost: body differs"
urls=()
: >"$T/want"
for ((i = 0; i < 40; i++)); do
    urls+=("$TLS_URL/data.bin" "$TLS_URL/text.txt")
    cat "$ROOT/data.bin" "$ROOT/text.txt" >>"$T/want"
done
fetch --cacert "$T/ca.pem" "${urls[@]}"
want 0 "https, 80 URLs"
cmp -s "$T/out" "$T/want" || fail "https, 80 URLs: output differs"
ok "https with --cacert (127.0.0.1 and localhost, gzip, 20 MiB, 80 URLs at once)"

fetch "$TLS_URL/hello.txt"
want 1 "https without --cacert"
grep -q 'unknown authority' "$T/fetch.err" ||
    fail "https without --cacert: message '$(cat "$T/fetch.err")' lacks 'unknown authority'"
[ ! -s "$T/out" ] || fail "https without --cacert: a body was written"
ok "https without --cacert: exit 1, $(head -n 1 "$T/fetch.err")"

fetch -k "$TLS_URL/hello.txt"
want 0 "https -k"
cmp -s "$T/out" "$ROOT/hello.txt" || fail "https -k: body differs"
fetch --cacert "$T/ca.pem" "https://127.0.0.1:$PORT/hello.txt"
want 1 "https to the plain port"
ok "https -k; https to a plain-HTTP port: exit 1"

# ---- -v ----------------------------------------------------------------------
fetch -v --cacert "$T/ca.pem" "$URL/hello.txt" "$TLS_URL/r1"
want 0 "-v"
grep -q '^< HTTP/1.1 200 OK$' "$T/fetch.err" || fail "-v: no '< HTTP/1.1 200 OK' line"
grep -qi '^< Server: nginx' "$T/fetch.err" || fail "-v: no '< Server: nginx' line"
grep -q "^> GET $URL/hello.txt\$" "$T/fetch.err" || fail "-v: no '> GET $URL/hello.txt' line"
cat "$ROOT/hello.txt" "$ROOT/hello.txt" | cmp -s "$T/out" - || fail "-v: bodies differ"
ok "-v shows the request and '< HTTP/1.1 200 OK', '< Server: nginx'"

grep -q -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' \
    "$T/fetch.all" && fail "a sanitizer reported an error"
kill -TERM "${PEER_PIDS[0]}"
wait "${PEER_PIDS[0]}" || true
PEER_PIDS=()
grep -q '\[alert\]\|\[emerg\]\|\[crit\]' "$T/error.log" && fail "nginx logged an alert"
ok "nginx stopped"
