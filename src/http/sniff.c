/*
 * sniff.c — goc_http_detect_content_type: Go's DetectContentType, the
 * WHATWG MIME Sniffing algorithm over the first 512 bytes.
 *
 * One ordered table of signatures; the first that matches names the type.
 * Three kinds of row:
 *   - HTML: a tag name compared case-insensitively after leading
 *     whitespace, which must be followed by a tag-terminating byte (' ' or
 *     '>'), so "<br/>" or "<bold" are not HTML;
 *   - a pattern with a mask (mask NULL: every bit counts, a plain
 *     prefix), optionally after leading whitespace (only "<?xml");
 *   - MP4, whose "ftyp" box must be walked.
 * The order is the specification's and Go's: it matters where two
 * signatures overlap (RIFF....WAVE against RIFF....AVI, an ICO header
 * against a TrueType one, a UTF-8 BOM before the text check). When none
 * matches, data with no "binary" control byte is text/plain, anything else
 * application/octet-stream. Every result is a static string; nothing is
 * allocated or locked, so any thread may call it.
 */
#include <stdint.h>
#include <string.h>

#include "http/http.h"

enum { SNIFF_LEN = 512 };

enum sig_kind { SIG_HTML, SIG_MASKED, SIG_MP4 };

typedef struct sniff_sig {
    enum sig_kind kind;
    bool skip_ws;     /* match after the leading whitespace */
    uint8_t len;      /* bytes of pat (and of mask) */
    const char *pat;  /* HTML: the tag in upper case */
    const char *mask; /* NULL: all 0xFF */
    const char *ct;
} sniff_sig;

/* clang-format off */
#define HTML(tag)       {SIG_HTML, true, sizeof(tag) - 1, tag, NULL, "text/html; charset=utf-8"}
#define EXACT(p, t)     {SIG_MASKED, false, sizeof(p) - 1, p, NULL, t}
#define MASKED(p, m, t) {SIG_MASKED, false, sizeof(p) - 1, p, m, t}
/* clang-format on */

/* The specification's "34 NUL bytes then LP" (Embedded OpenType): only the
 * last two bytes are compared. */
#define ZERO34 "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"

static const sniff_sig sigs[] = {
    HTML("<!DOCTYPE HTML"),
    HTML("<HTML"),
    HTML("<HEAD"),
    HTML("<SCRIPT"),
    HTML("<IFRAME"),
    HTML("<H1"),
    HTML("<DIV"),
    HTML("<FONT"),
    HTML("<TABLE"),
    HTML("<A"),
    HTML("<STYLE"),
    HTML("<TITLE"),
    HTML("<B"),
    HTML("<BODY"),
    HTML("<BR"),
    HTML("<P"),
    HTML("<!--"),
    {SIG_MASKED, true, 5, "<?xml", NULL, "text/xml; charset=utf-8"},
    EXACT("%PDF-", "application/pdf"),
    EXACT("%!PS-Adobe-", "application/postscript"),

    /* Byte order marks; the masks ignore what follows the mark. */
    MASKED("\xFE\xFF\0\0", "\xFF\xFF\0\0", "text/plain; charset=utf-16be"),
    MASKED("\xFF\xFE\0\0", "\xFF\xFF\0\0", "text/plain; charset=utf-16le"),
    MASKED("\xEF\xBB\xBF\0", "\xFF\xFF\xFF\0", "text/plain; charset=utf-8"),

    /* Images. */
    EXACT("\0\0\1\0", "image/x-icon"),
    EXACT("\0\0\2\0", "image/x-icon"),
    EXACT("BM", "image/bmp"),
    EXACT("GIF87a", "image/gif"),
    EXACT("GIF89a", "image/gif"),
    MASKED("RIFF\0\0\0\0WEBPVP", "\xFF\xFF\xFF\xFF\0\0\0\0\xFF\xFF\xFF\xFF\xFF\xFF", "image/webp"),
    EXACT("\x89PNG\r\n\x1A\n", "image/png"),
    EXACT("\xFF\xD8\xFF", "image/jpeg"),

    /* Audio and video, in the specification's order. */
    MASKED("FORM\0\0\0\0AIFF", "\xFF\xFF\xFF\xFF\0\0\0\0\xFF\xFF\xFF\xFF", "audio/aiff"),
    EXACT("ID3", "audio/mpeg"),
    EXACT("OggS\0", "application/ogg"),
    EXACT("MThd\0\0\0\x06", "audio/midi"),
    MASKED("RIFF\0\0\0\0AVI ", "\xFF\xFF\xFF\xFF\0\0\0\0\xFF\xFF\xFF\xFF", "video/avi"),
    MASKED("RIFF\0\0\0\0WAVE", "\xFF\xFF\xFF\xFF\0\0\0\0\xFF\xFF\xFF\xFF", "audio/wave"),
    {SIG_MP4, false, 0, NULL, NULL, "video/mp4"},
    EXACT("\x1A\x45\xDF\xA3", "video/webm"),

    /* Fonts. */
    MASKED(ZERO34 "LP", ZERO34 "\xFF\xFF", "application/vnd.ms-fontobject"),
    EXACT("\0\1\0\0", "font/ttf"),
    EXACT("OTTO", "font/otf"),
    EXACT("ttcf", "font/collection"),
    EXACT("wOFF", "font/woff"),
    EXACT("wOF2", "font/woff2"),

    /* Archives. RAR as RAR Labs defines it (the specification's pattern
     * is wrong), both the 1.5-4.0 and the 5.0 marker. */
    EXACT("\x1F\x8B\x08", "application/x-gzip"),
    EXACT("PK\3\4", "application/zip"),
    EXACT("Rar!\x1A\x07\0", "application/x-rar-compressed"),
    EXACT("Rar!\x1A\x07\1\0", "application/x-rar-compressed"),
    EXACT("\0asm", "application/wasm"),
};

static bool is_ws(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static bool match_html(const sniff_sig *s, const unsigned char *p, size_t n)
{
    if (n < (size_t)s->len + 1)
        return false;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char want = (unsigned char)s->pat[i], c = p[i];
        if (want >= 'A' && want <= 'Z')
            c &= 0xDF; /* fold ASCII lower case to upper for the letters */
        if (c != want)
            return false;
    }
    return p[s->len] == ' ' || p[s->len] == '>';
}

static bool match_masked(const sniff_sig *s, const unsigned char *p, size_t n)
{
    if (n < s->len)
        return false;
    if (!s->mask)
        return memcmp(p, s->pat, s->len) == 0;
    for (size_t i = 0; i < s->len; i++)
        if ((p[i] & (unsigned char)s->mask[i]) != (unsigned char)s->pat[i])
            return false;
    return true;
}

/* An ISO base media file whose first box is "ftyp" and names an "mp4"
 * brand (major or compatible; the 4 bytes at 12 are the minor version). */
static bool match_mp4(const unsigned char *p, size_t n)
{
    if (n < 12)
        return false;
    uint32_t box = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (box % 4 != 0 || n < box || memcmp(p + 4, "ftyp", 4) != 0)
        return false;
    for (uint32_t st = 8; st < box; st += 4) {
        if (st != 12 && memcmp(p + st, "mp4", 3) == 0)
            return true;
    }
    return false;
}

/* The specification's "binary data byte": controls other than TAB, LF,
 * FF, CR and ESC. */
static bool is_binary(unsigned char c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F);
}

const char *goc_http_detect_content_type(const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n > SNIFF_LEN)
        n = SNIFF_LEN;
    size_t ws = 0;
    while (ws < n && is_ws(p[ws]))
        ws++;

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        const sniff_sig *s = &sigs[i];
        const unsigned char *q = s->skip_ws ? p + ws : p;
        size_t m = s->skip_ws ? n - ws : n;
        bool hit = s->kind == SIG_HTML     ? match_html(s, q, m)
                   : s->kind == SIG_MASKED ? match_masked(s, q, m)
                                           : match_mp4(q, m);
        if (hit)
            return s->ct;
    }
    for (size_t i = ws; i < n; i++)
        if (is_binary(p[i]))
            return "application/octet-stream";
    return "text/plain; charset=utf-8";
}
