/*
 * statspage.c — goc_http_stats_handler: a live page over the HTTP counters
 * (stats.c), and the JSON snapshot it polls.
 *
 *   GET <mount>        the page: self-contained HTML (inline CSS and JS, SVG
 *                      charts; a Content-Security-Policy forbids anything
 *                      from elsewhere), so it works on an air-gapped admin
 *                      port and needs no build step.
 *   GET <mount>?json   a snapshot: goc_http_stats, the bucket bounds, the
 *                      runtime's goroutines and threads, the server's
 *                      monotonic clock (time_ns) and the wall clock (unix_ms).
 *
 * The server keeps no history: the page fetches a snapshot once a second
 * and derives everything over time itself, from successive snapshots:
 * requests/s from the request counter and time_ns, p50 and p99 from the
 * latency buckets' deltas (linear inside a bucket, as Prometheus'
 * histogram_quantile), kept for the last 60 s. Every number on the page
 * has a stable element id and its raw value in data-value; each chart's
 * data-points says how many points it draws (the browser test reads them):
 *
 *   rps p50 p99 requests in-flight conns-open conns-idle conns-accepted
 *   goroutines threads status-1xx .. status-5xx status-none rejected
 *   bytes-in bytes-out; charts chart-rps (line-rps), chart-latency
 *   (line-p50, line-p99); body data-updates (snapshots seen), data-error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http.h"

/* The page; what it polls is its own path with "?json". */
static const char page[] =
    "<!doctype html>\n"
    "<html lang='en'>\n"
    "<head>\n"
    "<meta charset='utf-8'>\n"
    "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
    "<title>goc: live HTTP stats</title>\n"
    "<style>\n"
    "body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222;\n"
    "       background: #f6f7f9; }\n"
    "h1 { font-size: 1.25em; margin: 0 0 .8em; }\n"
    "h2 { font-size: 1em; margin: 1.2em 0 .4em; color: #444; }\n"
    ".grid { display: grid; gap: .5em;\n"
    "        grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); }\n"
    ".card { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: .45em .7em; }\n"
    ".card b { display: block; font-size: 1.35em; font-variant-numeric: tabular-nums; }\n"
    ".card span { color: #667; font-size: .85em; }\n"
    "svg { background: #fff; border: 1px solid #dde; border-radius: 6px;\n"
    "      width: 100%; height: 180px; }\n"
    "polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }\n"
    "#line-rps { stroke: #2a6fdb; } #line-p50 { stroke: #1b9e5a; } #line-p99 { stroke: #d9472b; }\n"
    ".scale { color: #889; font-weight: normal; font-size: .85em; margin-left: 1em; }\n"
    ".key i { display: inline-block; width: .9em; height: .25em; margin: 0 .3em .2em 1em; }\n"
    "#state { color: #667; font-size: .85em; }\n"
    "</style>\n"
    "</head>\n"
    "<body data-updates='0'>\n"
    "<h1>goc HTTP server: live</h1>\n"
    "<div class='grid'>\n"
    "<div class='card'><b id='rps'>-</b><span>requests/s</span></div>\n"
    "<div class='card'><b id='p50'>-</b><span>p50 latency</span></div>\n"
    "<div class='card'><b id='p99'>-</b><span>p99 latency</span></div>\n"
    "<div class='card'><b id='requests'>-</b><span>requests</span></div>\n"
    "<div class='card'><b id='in-flight'>-</b><span>in flight</span></div>\n"
    "<div class='card'><b id='conns-open'>-</b><span>connections open</span></div>\n"
    "<div class='card'><b id='conns-idle'>-</b><span>connections idle</span></div>\n"
    "<div class='card'><b id='conns-accepted'>-</b><span>connections accepted</span></div>\n"
    "<div class='card'><b id='goroutines'>-</b><span>goroutines</span></div>\n"
    "<div class='card'><b id='threads'>-</b><span>threads</span></div>\n"
    "</div>\n"
    "<h2>Responses</h2>\n"
    "<div class='grid'>\n"
    "<div class='card'><b id='status-1xx'>-</b><span>1xx</span></div>\n"
    "<div class='card'><b id='status-2xx'>-</b><span>2xx</span></div>\n"
    "<div class='card'><b id='status-3xx'>-</b><span>3xx</span></div>\n"
    "<div class='card'><b id='status-4xx'>-</b><span>4xx</span></div>\n"
    "<div class='card'><b id='status-5xx'>-</b><span>5xx</span></div>\n"
    "<div class='card'><b id='status-none'>-</b><span>no status (closed)</span></div>\n"
    "<div class='card'><b id='rejected'>-</b><span>rejected by the parser</span></div>\n"
    "<div class='card'><b id='bytes-in'>-</b><span>received</span></div>\n"
    "<div class='card'><b id='bytes-out'>-</b><span>sent</span></div>\n"
    "</div>\n"
    "<h2>Requests per second, last 60 s <span id='max-rps' class='scale'></span></h2>\n"
    "<svg id='chart-rps' viewBox='0 0 600 180' preserveAspectRatio='none' data-points='0'>\n"
    "<polyline id='line-rps' points=''/>\n"
    "</svg>\n"
    "<h2>Latency, last 60 s <span class='key'><i style='background:#1b9e5a'></i>p50\n"
    "<i style='background:#d9472b'></i>p99</span>\n"
    "<span id='max-latency' class='scale'></span></h2>\n"
    "<svg id='chart-latency' viewBox='0 0 600 180' preserveAspectRatio='none' data-points='0'>\n"
    "<polyline id='line-p50' points=''/>\n"
    "<polyline id='line-p99' points=''/>\n"
    "</svg>\n"
    "<p id='state'>connecting</p>\n"
    "<script>\n"
    "'use strict';\n"
    "const N = 60, W = 600, H = 180, TOP = 8;\n"
    "const points = [];\n"
    "let prev = null;\n"
    "const $ = (id) => document.getElementById(id);\n"
    "\n"
    "function show(id, v, text) {\n"
    "  const e = $(id);\n"
    "  e.dataset.value = v === null ? '' : String(v);\n"
    "  e.textContent = text;\n"
    "}\n"
    "function count(n) { return n.toLocaleString('en-US'); }\n"
    "function bytes(n) {\n"
    "  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];\n"
    "  let i = 0;\n"
    "  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }\n"
    "  return (i ? n.toFixed(1) : n) + ' ' + u[i];\n"
    "}\n"
    "function dur(ns) {\n"
    "  if (ns === null) return '-';\n"
    "  if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 1 : 0) + ' \\u00b5s';\n"
    "  if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + ' ms';\n"
    "  return (ns / 1e9).toFixed(2) + ' s';\n"
    "}\n"
    "\n"
    "/* The q-quantile of the requests counted in bucket deltas d, interpolated\n"
    " * linearly inside its bucket (as Prometheus' histogram_quantile); in the\n"
    " * unbounded last bucket, its lower bound. null when d is all zero. */\n"
    "function quantile(q, d, bounds) {\n"
    "  const total = d.reduce((a, b) => a + b, 0);\n"
    "  if (total === 0) return null;\n"
    "  const rank = q * total;\n"
    "  let cum = 0;\n"
    "  for (let i = 0; i < d.length; i++) {\n"
    "    if (d[i] > 0 && cum + d[i] >= rank) {\n"
    "      const lo = i ? bounds[i - 1] : 0, hi = bounds[i];\n"
    "      if (hi === null) return lo;\n"
    "      return lo + (hi - lo) * (rank - cum) / d[i];\n"
    "    }\n"
    "    cum += d[i];\n"
    "  }\n"
    "  return bounds[bounds.length - 2];\n"
    "}\n"
    "\n"
    "function line(id, key, max) {\n"
    "  const pts = [];\n"
    "  points.forEach((p, i) => {\n"
    "    if (p[key] === null) return;\n"
    "    const x = (W * (N - points.length + i)) / (N - 1);\n"
    "    const y = H - (H - TOP) * (max > 0 ? p[key] / max : 0);\n"
    "    pts.push(x.toFixed(1) + ',' + y.toFixed(1));\n"
    "  });\n"
    "  $(id).setAttribute('points', pts.join(' '));\n"
    "}\n"
    "\n"
    "function draw() {\n"
    "  const maxRps = Math.max(1, ...points.map((p) => p.rps));\n"
    "  const maxLat = Math.max(1, ...points.map((p) => Math.max(p.p50 || 0, p.p99 || 0)));\n"
    "  line('line-rps', 'rps', maxRps);\n"
    "  line('line-p50', 'p50', maxLat);\n"
    "  line('line-p99', 'p99', maxLat);\n"
    "  $('max-rps').textContent = 'top: ' + maxRps.toFixed(maxRps < 10 ? 1 : 0) + '/s';\n"
    "  $('max-latency').textContent = 'top: ' + dur(maxLat);\n"
    "  $('chart-rps').dataset.points = String(points.length);\n"
    "  $('chart-latency').dataset.points = String(points.length);\n"
    "}\n"
    "\n"
    "function totals(s) {\n"
    "  show('requests', s.requests, count(s.requests));\n"
    "  show('in-flight', s.requests_active, count(s.requests_active));\n"
    "  show('conns-open', s.conns_open, count(s.conns_open));\n"
    "  show('conns-idle', s.conns_idle, count(s.conns_idle));\n"
    "  show('conns-accepted', s.conns_accepted, count(s.conns_accepted));\n"
    "  show('goroutines', s.goroutines, count(s.goroutines));\n"
    "  show('threads', s.threads, count(s.threads));\n"
    "  ['none', '1xx', '2xx', '3xx', '4xx', '5xx'].forEach((c, i) =>\n"
    "    show('status-' + c, s.status[i], count(s.status[i])));\n"
    "  show('rejected', s.rejected, count(s.rejected));\n"
    "  show('bytes-in', s.bytes_in, bytes(s.bytes_in));\n"
    "  show('bytes-out', s.bytes_out, bytes(s.bytes_out));\n"
    "}\n"
    "\n"
    "function update(s) {\n"
    "  totals(s);\n"
    "  if (prev !== null && s.time_ns > prev.time_ns) {\n"
    "    const dt = (s.time_ns - prev.time_ns) / 1e9;\n"
    "    const d = s.latency.map((v, i) => v - prev.latency[i]);\n"
    "    const p = { rps: (s.requests - prev.requests) / dt,\n"
    "                p50: quantile(0.5, d, s.latency_bounds_ns),\n"
    "                p99: quantile(0.99, d, s.latency_bounds_ns) };\n"
    "    points.push(p);\n"
    "    if (points.length > N) points.shift();\n"
    "    show('rps', p.rps, p.rps.toFixed(p.rps < 10 ? 1 : 0));\n"
    "    show('p50', p.p50, dur(p.p50));\n"
    "    show('p99', p.p99, dur(p.p99));\n"
    "    draw();\n"
    "  }\n"
    "  prev = s;\n"
    "  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);\n"
    "}\n"
    "\n"
    "async function poll() {\n"
    "  try {\n"
    "    const r = await fetch(location.pathname + '?json', { cache: 'no-store' });\n"
    "    if (!r.ok) throw new Error('HTTP ' + r.status);\n"
    "    update(await r.json());\n"
    "    $('state').textContent = 'updated ' + new Date().toLocaleTimeString();\n"
    "    delete document.body.dataset.error;\n"
    "  } catch (e) {\n"
    "    $('state').textContent = 'error: ' + e.message;\n"
    "    document.body.dataset.error = e.message;\n"
    "  }\n"
    "  setTimeout(poll, 1000);\n"
    "}\n"
    "poll();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* The query asks for the snapshot: a "json" parameter, with or without a
 * value ("?json", "?json=1", "?x=y&json"). */
static bool wants_json(const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        if (strncmp(q, "json", 4) == 0 && (n == 4 || q[4] == '='))
            return true;
        q += n + (q[n] == '&');
    }
    return false;
}

/* A JSON array of n counters. */
static void json_array(goc_http_response_writer *w, const uint64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        goc_http_printf(w, "%s%" PRIu64, i ? "," : "[", v[i]);
    goc_http_write_str(w, "]");
}

static void serve_json(goc_http_response_writer *w)
{
    goc_http_stats st;
    goc_stats rt;
    goc_http_stats_read(&st);
    goc_read_stats(&rt);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "application/json");
    goc_http_printf(
        w,
        "{\"time_ns\":%" PRId64 ",\"unix_ms\":%" PRId64 ",\"conns_accepted\":%" PRIu64
        ",\"conns_open\":%" PRIu64 ",\"conns_idle\":%" PRIu64 ",\"requests\":%" PRIu64
        ",\"requests_active\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"bytes_in\":%" PRIu64
        ",\"bytes_out\":%" PRIu64 ",\"latency_sum_ns\":%" PRIu64 ",\"goroutines\":%" PRIu64
        ",\"threads\":%" PRIu64 ",\"status\":",
        goc_now(), (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, st.conns_accepted,
        st.conns_open, st.conns_idle, st.requests, st.requests_active, st.rejected, st.bytes_in,
        st.bytes_out, st.latency_sum_ns, rt.goroutines, rt.threads);
    json_array(w, st.status, 6);
    goc_http_write_str(w, ",\"latency\":");
    json_array(w, st.latency, GOC_HTTP_LATENCY_BUCKETS);
    /* the bounds, the unbounded last bucket's as null */
    goc_http_write_str(w, ",\"latency_bounds_ns\":[");
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS - 1; i++)
        goc_http_printf(w, "%" PRId64 ",", goc_http_latency_bound(i));
    goc_http_write_str(w, "null]}\n");
}

static void serve_page(goc_http_response_writer *w)
{
    goc_http_header *h = goc_http_response_header(w);
    char len[24];
    snprintf(len, sizeof len, "%zu", sizeof page - 1);
    goc_http_header_set(h, "Content-Type", "text/html; charset=utf-8");
    goc_http_header_set(h, "Content-Length", len);
    goc_http_header_set(h, "Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; "
                        "style-src 'unsafe-inline'; connect-src 'self'");
    goc_http_header_set(h, "X-Content-Type-Options", "nosniff");
    goc_http_write(w, page, sizeof page - 1);
}

static void serve_stats(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        goc_http_header_set(goc_http_response_header(w), "Allow", "GET, HEAD");
        goc_http_error(w, "method not allowed", 405);
        return;
    }
    /* every answer is a snapshot of now: never from a cache */
    goc_http_header_set(goc_http_response_header(w), "Cache-Control", "no-store");
    if (wants_json(r->raw_query))
        serve_json(w);
    else
        serve_page(w);
}

GOC_API goc_http_handler goc_http_stats_handler(void)
{
    return (goc_http_handler){.fn = serve_stats, .arg = NULL};
}
