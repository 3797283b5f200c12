/*
 * test_content.c — the pure parts of static file serving, without a
 * server: Range parsing (Go's parseRange cases), the multipart framing's
 * announced size, Accept-Encoding q-values, entity-tag scanning and
 * comparison, HTTP-date parsing in its three forms, and MIME types from
 * /etc/mime.types and the built-in table.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../src/http/fs.h"

/* From src/http/http.h, which tests cannot include (it needs src/ on the
 * include path). */
int goc__http_parse_time(const char *s, time_t *t);

/* ---- Range ------------------------------------------------------------------------ */

/* Parse s against size and compare with want ("start:length,..."), or
 * with the error code. */
static void range_is(const char *s, int64_t size, int want_rc, const char *want)
{
    goc__http_range rs[8];
    int n = goc__http_parse_range(s, size, rs, 8);
    cr_assert_eq(n, want_rc, "%s (size %lld): %d, want %d", s, (long long)size, n, want_rc);
    char got[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld:%lld", i ? "," : "",
                 (long long)rs[i].start, (long long)rs[i].length);
    if (want)
        cr_assert_str_eq(got, want, "%s", s);
}

Test(range, go_cases, .timeout = 10)
{
    range_is("", 10, 0, "");
    range_is("bytes=0-4", 10, 1, "0:5");
    range_is("bytes=2-", 10, 1, "2:8");
    range_is("bytes=-5", 10, 1, "5:5");
    range_is("bytes=-15", 10, 1, "0:10");
    range_is("bytes=0-20", 10, 1, "0:10");
    range_is("bytes=15-20", 10, -ERANGE, NULL);
    range_is("bytes=0-0,-2", 10, 2, "0:1,8:2");
    range_is("bytes=0-1,5-8", 10, 2, "0:2,5:4");
    range_is("bytes=0-1,5-", 10, 2, "0:2,5:5");
    range_is("bytes=5-1000", 10, 1, "5:5");
    range_is("bytes=0-9,1-8", 10, 2, "0:10,1:8");
    range_is("bytes= 1 -2 , , 4-5 ", 10, 2, "1:2,4:2");
    range_is("bytes=10-20", 10, -ERANGE, NULL);
    range_is("bytes=10-", 10, -ERANGE, NULL);
    range_is("bytes=0-", 0, -ERANGE, NULL);
    range_is("bytes=-0", 10, -ERANGE, NULL);
    range_is("bytes=10-20,2-3", 10, 1, "2:2");
    range_is("bytes=2-1", 10, -EINVAL, NULL);
    range_is("bytes=-", 10, -EINVAL, NULL);
    range_is("bytes=--5", 10, -EINVAL, NULL);
    range_is("bytes=1--5", 10, -EINVAL, NULL);
    range_is("bytes=a-b", 10, -EINVAL, NULL);
    range_is("bytes=5", 10, -EINVAL, NULL);
    range_is("bits=0-5", 10, -EINVAL, NULL);
    range_is("bytes=99999999999999999999-", 10, -EINVAL, NULL);
    range_is("bytes=0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1,0-1", 10, -E2BIG, NULL);
}

Test(range, too_big_sum, .timeout = 10)
{
    goc__http_range a[] = {{0, 6}, {4, 6}};
    cr_assert(goc__http_ranges_too_big(a, 2, 10));
    goc__http_range b[] = {{0, 5}, {5, 5}};
    cr_assert(!goc__http_ranges_too_big(b, 2, 10));
    /* Near INT64_MAX the sum must not overflow before it is compared
     * (fuzz/regression/fields/ranges-too-big-sum-overflow). */
    goc__http_range c[] = {{10, INT64_MAX - 10}, {20, 11}};
    cr_assert(goc__http_ranges_too_big(c, 2, INT64_MAX));
    goc__http_range d[] = {{0, INT64_MAX - 11}, {0, 11}};
    cr_assert(!goc__http_ranges_too_big(d, 2, INT64_MAX));
}

Test(range, multipart_size_matches_framing, .timeout = 10)
{
    goc__http_range rs[] = {{0, 3}, {100, 50}, {999, 1}};
    const char *b = "0123456789abcdef0123456789abcdef", *ct = "text/plain; charset=utf-8";
    int64_t want = 0;
    char buf[512];
    for (size_t i = 0; i < 3; i++) {
        int k = goc__http_multipart_part_head(buf, sizeof buf, i, &rs[i], 1000, b, ct);
        cr_assert_gt(k, 0);
        if (i == 0)
            cr_assert(strncmp(buf, "--0123", 6) == 0, "%s", buf);
        else
            cr_assert(strncmp(buf, "\r\n--0123", 8) == 0);
        cr_assert(strstr(buf, "Content-Range: bytes 999-999/1000") || i != 2, "%s", buf);
        want += k + rs[i].length;
    }
    want += goc__http_multipart_tail(buf, sizeof buf, b);
    cr_assert_str_eq(buf, "\r\n--0123456789abcdef0123456789abcdef--\r\n");
    cr_assert_eq(goc__http_multipart_size(rs, 3, 1000, b, ct), want);
}

/* ---- Accept-Encoding ---------------------------------------------------------------- */

Test(accept_encoding, gzip_qvalues, .timeout = 10)
{
    cr_assert(!goc__http_accepts_gzip(NULL));
    cr_assert(!goc__http_accepts_gzip(""));
    cr_assert(goc__http_accepts_gzip("gzip"));
    cr_assert(goc__http_accepts_gzip("GZIP"));
    cr_assert(goc__http_accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
    cr_assert(goc__http_accepts_gzip("br, x-gzip"));
    cr_assert(goc__http_accepts_gzip("gzip ; q=0.001"));
    cr_assert(!goc__http_accepts_gzip("gzip;q=0"));
    cr_assert(!goc__http_accepts_gzip("gzip;q=0.000"));
    cr_assert(!goc__http_accepts_gzip("gzip; q=0, *"));
    cr_assert(goc__http_accepts_gzip("*"));
    cr_assert(!goc__http_accepts_gzip("*;q=0"));
    /* "*" named twice counts with its best weight, whatever the order
     * (fuzz/regression/fields/accept-encoding-star-twice). */
    cr_assert(goc__http_accepts_gzip("*, *;q=0"));
    cr_assert(goc__http_accepts_gzip("*;q=0, *"));
    cr_assert(!goc__http_accepts_gzip("br, deflate"));
    cr_assert(!goc__http_accepts_gzip("gzipx"));
    cr_assert(!goc__http_accepts_gzip("gzip;q=2"));
    cr_assert(!goc__http_accepts_gzip("gzip;q=abc"));
    cr_assert(goc__http_accepts_gzip("identity;q=0, gzip;level=9"));
}

/* ---- entity tags ----------------------------------------------------------------------- */

Test(etag, scan_and_compare, .timeout = 10)
{
    const char *tag, *rest;
    size_t n = goc__http_scan_etag("  \"abc\" , W/\"x\"", &tag, &rest);
    cr_assert_eq(n, 5);
    cr_assert(strncmp(tag, "\"abc\"", 5) == 0);
    cr_assert_str_eq(rest, " , W/\"x\"");
    n = goc__http_scan_etag(rest + 3, &tag, &rest);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(rest, "");
    cr_assert_eq(goc__http_scan_etag("abc", &tag, &rest), 0);
    cr_assert_eq(goc__http_scan_etag("\"ab c\"", &tag, &rest), 0);
    cr_assert_eq(goc__http_scan_etag("\"open", &tag, &rest), 0);

    cr_assert(goc__http_etag_strong_eq("\"a\"", 3, "\"a\""));
    cr_assert(!goc__http_etag_strong_eq("W/\"a\"", 5, "W/\"a\""));
    cr_assert(!goc__http_etag_strong_eq("\"a\"", 3, "W/\"a\""));
    cr_assert(!goc__http_etag_strong_eq("\"a\"", 3, NULL));
    cr_assert(goc__http_etag_weak_eq("W/\"a\"", 5, "\"a\""));
    cr_assert(goc__http_etag_weak_eq("\"a\"", 3, "W/\"a\""));
    cr_assert(!goc__http_etag_weak_eq("\"a\"", 3, "\"b\""));

    char buf[40];
    goc__http_etag_format(buf, 0x5f5e1000, 0x1234);
    cr_assert_str_eq(buf, "\"5f5e1000-1234\"");
}

/* ---- HTTP-date --------------------------------------------------------------------------- */

Test(httpdate, three_forms, .timeout = 10)
{
    time_t t = 0;
    cr_assert_eq(goc__http_parse_time("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    cr_assert_eq(t, 784111777);
    t = 0;
    cr_assert_eq(goc__http_parse_time("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    cr_assert_eq(t, 784111777);
    t = 0;
    cr_assert_eq(goc__http_parse_time("Sun Nov  6 08:49:37 1994", &t), 0);
    cr_assert_eq(t, 784111777);
    cr_assert_eq(goc__http_parse_time("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(goc__http_parse_time("Tue, 29 Feb 2000 23:59:59 GMT", &t), 0);
    cr_assert_eq(t, 951868799);
    cr_assert_eq(goc__http_parse_time("Thu, 01-Jan-15 00:00:00 GMT", &t), -EINVAL); /* long day */
    cr_assert_eq(goc__http_parse_time("Thursday, 01-Jan-15 00:00:00 GMT", &t), 0);
    cr_assert_eq(t, 1420070400);
}

Test(httpdate, rejects, .timeout = 10)
{
    time_t t;
    const char *bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(goc__http_parse_time(bad[i], &t), -EINVAL, "%s", bad[i]);
    cr_assert_eq(goc__http_parse_time(NULL, &t), -EINVAL);
}

/* ---- MIME types ---------------------------------------------------------------------------- */

Test(mime, common_types, .timeout = 10)
{
    cr_assert_str_eq(goc_http_mime_type("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(goc_http_mime_type("/a/b/INDEX.HTM"), "text/html; charset=utf-8");
    cr_assert_str_eq(goc_http_mime_type("style.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(goc_http_mime_type("app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(goc_http_mime_type("x.png"), "image/png");
    cr_assert_str_eq(goc_http_mime_type("x.JPG"), "image/jpeg");
    cr_assert_str_eq(goc_http_mime_type("x.json"), "application/json");
    cr_assert_str_eq(goc_http_mime_type("x.svg"), "image/svg+xml");
    cr_assert_str_eq(goc_http_mime_type("x.wasm"), "application/wasm");
    cr_assert_str_eq(goc_http_mime_type("notes.txt"), "text/plain; charset=utf-8");
    cr_assert_null(goc_http_mime_type("Makefile"));
    cr_assert_null(goc_http_mime_type("dir.d/noext"));
    cr_assert_null(goc_http_mime_type("x."));
    cr_assert_null(goc_http_mime_type("x.nosuchextension"));
    cr_assert_null(goc_http_mime_type(NULL));
}

Test(mime, from_system_file, .timeout = 10)
{
    /* types only /etc/mime.types knows (Debian's media-types) */
    FILE *f = fopen("/etc/mime.types", "r");
    if (!f)
        cr_skip_test("no /etc/mime.types (install media-types)");
    fclose(f);
    cr_assert_str_eq(goc_http_mime_type("a.csv"), "text/csv; charset=utf-8");
    cr_assert_str_eq(goc_http_mime_type("a.mp3"), "audio/mpeg");
    cr_assert_str_eq(goc_http_mime_type("a.odt"), "application/vnd.oasis.opendocument.text");
}
