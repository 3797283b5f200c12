#!/usr/bin/env bash
# test_gzip.sh HTTPD — httpd -gzip against curl --compressed, the gzip
# command and Python's http.client with zlib: a large text file decoded byte
# for byte, the plain body for clients that do not ask, a precompressed
# file.gz served as it is (never compressed twice), binary types and ranges
# left alone, HEAD, and a stream whose first part decodes before the next
# is sent. Each check prints one "ok" line; the first failure stops the
# test with httpd's log.
HTTPD="${1:?usage: test_gzip.sh build/examples/httpd}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CURL=(curl -sS --max-time 20)
ok() { echo "ok - $*"; }
header() {
    grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

make_root
python3 - "$ROOT/big.txt" <<'PY'
import random, sys
random.seed(1)
words = ["goroutine", "channel", "select", "deflate", "window", "<p>", "</p>", "{\"a\": 1}"]
with open(sys.argv[1], "w") as f:
    f.write(" ".join(random.choice(words) for _ in range(400000)))
PY
printf 'body { color: red; }\n%.0s' $(seq 200) >"$ROOT/page.css"
gzip -9 -k "$ROOT/page.css"
start_httpd -gzip -log

# ---- a large text file ---------------------------------------------------------
"${CURL[@]}" --compressed -D "$T/h" -o "$T/out" "$URL/static/big.txt"
cmp -s "$T/out" "$ROOT/big.txt" || fail "curl --compressed: the body differs"
[ "$(header "$T/h" Content-Encoding)" = gzip ] || fail "big.txt: no Content-Encoding: gzip"
[ "$(header "$T/h" Vary)" = Accept-Encoding ] || fail "big.txt: Vary '$(header "$T/h" Vary)'"
[ -z "$(header "$T/h" Content-Length)" ] || fail "big.txt: a Content-Length with gzip"
[[ "$(header "$T/h" ETag)" == W/* ]] || fail "big.txt: ETag '$(header "$T/h" ETag)' not weak"
"${CURL[@]}" -H 'Accept-Encoding: gzip' -o "$T/raw" "$URL/static/big.txt"
gzip -dc <"$T/raw" | cmp -s - "$ROOT/big.txt" || fail "gzip -d of the raw body differs"
size=$(stat -c %s "$ROOT/big.txt") zsize=$(stat -c %s "$T/raw")
[ "$zsize" -lt $((size / 2)) ] || fail "compressed $zsize of $size bytes"
ok "curl --compressed and gzip -d: big.txt ($size bytes, $zsize compressed), Vary, weak ETag"

"${CURL[@]}" -D "$T/h" -o "$T/out" "$URL/static/big.txt"
cmp -s "$T/out" "$ROOT/big.txt" || fail "no Accept-Encoding: the body differs"
[ -z "$(header "$T/h" Content-Encoding)" ] || fail "no Accept-Encoding: compressed anyway"
[ "$(header "$T/h" Content-Length)" = "$size" ] || fail "no Accept-Encoding: Content-Length"
[ "$(header "$T/h" Vary)" = Accept-Encoding ] || fail "no Accept-Encoding: Vary"
"${CURL[@]}" -H 'Accept-Encoding: gzip;q=0, identity' -o "$T/out" "$URL/static/big.txt"
cmp -s "$T/out" "$ROOT/big.txt" || fail "gzip;q=0: the body differs"
ok "no Accept-Encoding and gzip;q=0: the plain body with its Content-Length and Vary"

# ---- what is left alone ------------------------------------------------------------
"${CURL[@]}" -H 'Accept-Encoding: gzip' -D "$T/h" -o "$T/out" "$URL/static/page.css"
cmp -s "$T/out" "$ROOT/page.css.gz" || fail "page.css: not the precompressed file as it is"
[ "$(header "$T/h" Content-Encoding)" = gzip ] || fail "page.css: Content-Encoding"
"${CURL[@]}" --compressed -o "$T/out" "$URL/static/page.css"
cmp -s "$T/out" "$ROOT/page.css" || fail "page.css: curl --compressed differs"
ok "page.css.gz served as it is (not compressed twice)"

"${CURL[@]}" --compressed -D "$T/h" -o "$T/out" "$URL/static/data.bin"
cmp -s "$T/out" "$ROOT/data.bin" && [ -z "$(header "$T/h" Content-Encoding)" ] ||
    fail "data.bin: compressed or changed"
"${CURL[@]}" --compressed -r 100-199 -D "$T/h" -o "$T/out" "$URL/static/big.txt"
head -n 1 "$T/h" | grep -q ' 206 ' || fail "range: $(head -n 1 "$T/h")"
cmp -s "$T/out" <(dd if="$ROOT/big.txt" iflag=skip_bytes,count_bytes skip=100 count=100 \
    status=none) || fail "range: the bytes differ"
[ -z "$(header "$T/h" Content-Encoding)" ] || fail "range: compressed"
ok "a binary type and a range request: as they are"

"${CURL[@]}" -I --compressed -D "$T/h" -o /dev/null "$URL/static/big.txt"
[ "$(header "$T/h" Content-Encoding)" = gzip ] || fail "HEAD: Content-Encoding"
[ -z "$(header "$T/h" Content-Length)" ] || fail "HEAD: a Content-Length with gzip"
ok "HEAD: the GET's fields, no length"

# ---- Python: decoding, and a stream part by part -------------------------------------
python3 - "$URL" "$ROOT/big.txt" <<'PY' || fail "python"
import gzip, http.client, sys, time, urllib.parse, zlib
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
c.request("GET", "/static/big.txt", headers={"Accept-Encoding": "gzip, deflate"})
r = c.getresponse()
assert r.getheader("Content-Encoding") == "gzip", r.getheaders()
assert gzip.decompress(r.read()) == open(sys.argv[2], "rb").read()
# /stream: one part a second; each decodes as it arrives.
c.request("GET", "/stream?n=3&ms=1000", headers={"Accept-Encoding": "gzip"})
r = c.getresponse()
assert r.getheader("Content-Encoding") == "gzip", r.getheaders()
d = zlib.decompressobj(31)
out, t0, first = b"", time.monotonic(), None
while True:
    b = r.read1(65536)
    if not b:
        break
    out += d.decompress(b)
    if first is None and out.startswith(b"chunk 1 of 3\n"):
        first = time.monotonic() - t0
assert d.eof and out == b"chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n", out
assert first is not None and first < 0.8, first
print("ok - python: big.txt decoded; /stream part 1 decoded after %.3fs" % first)
PY
grep -q '"GET /static/big.txt HTTP/1.1" 200 '"$zsize"' ' "$T/httpd.log" ||
    fail "the access log does not count the compressed bytes ($zsize)"
ok "-log counts the compressed bytes"

stop_httpd
ok "httpd -gzip stopped cleanly"
