/*
 * test_sniff.c — goc_http_detect_content_type against Go's table: every
 * signature, the HTML tag terminator and case rules, leading whitespace
 * (skipped for HTML and XML only), the 512-byte window, MP4's ftyp walk,
 * and the text/binary fallback.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <goc/http.h>

typedef struct sniff_case {
    const char *name;
    const char *data;
    size_t n;
    const char *want;
} sniff_case;

#define C(name, lit, want)                                                                         \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, want                                                           \
    }

static const char html[] = "text/html; charset=utf-8";
static const char text[] = "text/plain; charset=utf-8";
static const char bin[] = "application/octet-stream";

static const sniff_case cases[] = {
    C("empty", "", text),
    C("html doctype", "<!DOCTYPE HTML>...", html),
    C("html doctype lower", "<!doctype html><p>", html),
    C("html leading ws", " \t\r\n\f<HtMl><b>", html),
    C("html head", "<head>", html),
    C("html script", "<script src=x>", html),
    C("html iframe", "<iframe>", html),
    C("html h1", "<h1>", html),
    C("html div", "<DIV class=x>", html),
    C("html font", "<font>", html),
    C("html table", "<table>", html),
    C("html a", "<a href=x>", html),
    C("html style", "<style>", html),
    C("html title", "<title>", html),
    C("html b", "<b>", html),
    C("html body", "<body>", html),
    C("html br", "<br>", html),
    C("html p", "<p>x", html),
    C("html comment", "<!-- x -->", html),
    C("html needs terminator", "<br/>", text),
    C("html other tag", "<bold>", text),
    C("html tag alone", "<html", text),
    C("xml", "<?xml version=\"1.0\"?>", "text/xml; charset=utf-8"),
    C("xml after ws", "\n\n  <?xml ?>", "text/xml; charset=utf-8"),
    C("xml is case-sensitive", "<?XML?>", text),
    C("pdf", "%PDF-1.4\n", "application/pdf"),
    C("pdf not after ws", " %PDF-1.4", text),
    C("postscript", "%!PS-Adobe-3.0", "application/postscript"),
    C("utf-16be bom", "\xFE\xFF\0h\0i", "text/plain; charset=utf-16be"),
    C("utf-16le bom", "\xFF\xFEh\0i\0", "text/plain; charset=utf-16le"),
    C("utf-8 bom", "\xEF\xBB\xBFhi", "text/plain; charset=utf-8"),
    C("bom too short", "\xFE\xFF\0", bin),
    C("ico", "\0\0\1\0\1\0", "image/x-icon"),
    C("cur", "\0\0\2\0\1\0", "image/x-icon"),
    C("bmp", "BM\x3e\0\0\0", "image/bmp"),
    C("gif87a", "GIF87a\1\0", "image/gif"),
    C("gif89a", "GIF89a\1\0", "image/gif"),
    C("webp", "RIFF\x10\0\0\0WEBPVP8 ", "image/webp"),
    C("png", "\x89PNG\r\n\x1A\n\0\0\0\rIHDR", "image/png"),
    C("jpeg", "\xFF\xD8\xFF\xE0\0\x10JFIF", "image/jpeg"),
    C("aiff", "FORM\0\0\0\0AIFFCOMM", "audio/aiff"),
    C("mp3", "ID3\3\0\0\0\0", "audio/mpeg"),
    C("ogg", "OggS\0\2\0\0", "application/ogg"),
    C("midi", "MThd\0\0\0\x06\0\1", "audio/midi"),
    C("avi", "RIFF\0\0\0\0AVI LIST", "video/avi"),
    C("wav", "RIFF\x24\0\0\0WAVEfmt ", "audio/wave"),
    C("riff other", "RIFF\0\0\0\0ABCD", bin),
    C("webm", "\x1A\x45\xDF\xA3\x01", "video/webm"),
    C("eot", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0LP",
      "application/vnd.ms-fontobject"),
    C("eot masked bytes", "abcdefghijklmnopqrstuvwxyz01234567LP", "application/vnd.ms-fontobject"),
    C("ttf", "\0\1\0\0\0\x10", "font/ttf"),
    C("otf", "OTTO\0\x10", "font/otf"),
    C("ttc", "ttcf\0\1", "font/collection"),
    C("woff", "wOFF\0\1\0\0", "font/woff"),
    C("woff2", "wOF2\0\1\0\0", "font/woff2"),
    C("gzip", "\x1F\x8B\x08\0", "application/x-gzip"),
    C("gzip other method", "\x1F\x8B\x07\0", bin),
    C("zip", "PK\3\4\x14\0", "application/zip"),
    C("rar 4", "Rar!\x1A\x07\0\xCF", "application/x-rar-compressed"),
    C("rar 5", "Rar!\x1A\x07\1\0", "application/x-rar-compressed"),
    C("wasm", "\0asm\1\0\0\0", "application/wasm"),
    C("mp4",
      "\0\0\0\x18"
      "ftypmp42\0\0\0\0mp42isom",
      "video/mp4"),
    C("mp4 compatible brand",
      "\0\0\0\x18"
      "ftypisom\0\0\0\0isommp41",
      "video/mp4"),
    C("mp4 minor version skipped",
      "\0\0\0\x10"
      "ftypisommp4x",
      bin),
    C("mp4 box past data",
      "\0\0\0\x40"
      "ftypmp42\0\0\0\0",
      bin),
    C("mp4 box not multiple of 4",
      "\0\0\0\x11"
      "ftypmp42\0\0\0\0mp42i",
      bin),
    C("text", "Hello, World!\n", text),
    C("text utf-8", "h\xC3\xA9llo", text),
    C("text with esc and ff", "a\x1B[0m\f\r\n\tb", text),
    C("binary nul", "abc\0def", bin),
    C("binary vt", "abc\x0B", bin),
    C("binary 0x1c", "abc\x1C", bin),
    C("binary 0x7f is text", "abc\x7F", text),
};

Test(sniff, table, .timeout = 10)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const sniff_case *c = &cases[i];
        const char *got = goc_http_detect_content_type(c->data, c->n);
        cr_expect_str_eq(got, c->want, "%s: got %s, want %s", c->name, got, c->want);
    }
}

/* Only the first 512 bytes count: a NUL at 512 is not seen, one at 511 is. */
Test(sniff, window_512, .timeout = 10)
{
    char buf[1024];
    memset(buf, 'a', sizeof buf);
    buf[512] = '\0';
    cr_assert_str_eq(goc_http_detect_content_type(buf, sizeof buf), text);
    buf[511] = '\0';
    cr_assert_str_eq(goc_http_detect_content_type(buf, sizeof buf), bin);
}

/* An HTML tag needs its terminator inside the window too. */
Test(sniff, html_at_window_end, .timeout = 10)
{
    char buf[600];
    memset(buf, ' ', sizeof buf);
    memcpy(buf + 507, "<html>", 6); /* '>' is byte 512: outside */
    cr_assert_str_eq(goc_http_detect_content_type(buf, sizeof buf), text);
    memset(buf, ' ', sizeof buf);
    memcpy(buf + 506, "<html>", 6);
    cr_assert_str_eq(goc_http_detect_content_type(buf, sizeof buf), html);
}

/* Whitespace alone, and the n bound respected (a NUL past n is unread). */
Test(sniff, whitespace_and_bounds, .timeout = 10)
{
    cr_assert_str_eq(goc_http_detect_content_type(" \n\t", 3), text);
    cr_assert_str_eq(goc_http_detect_content_type("ab\0", 2), text);
    cr_assert_str_eq(goc_http_detect_content_type(NULL, 0), text);
}
