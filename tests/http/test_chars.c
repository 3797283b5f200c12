/*
 * test_chars.c — the parser's character classes (src/http/chars.c) against
 * the RFCs' ABNF, written out again here, and the class scanner
 * (scan_generic.c, or a per-arch one later) against a plain loop.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../src/http/chars.h"

static bool alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool digit(int c)
{
    return c >= '0' && c <= '9';
}

/* RFC 9110 section 5.6.2 and friends, one byte at a time. */
static unsigned rfc_classes(int c)
{
    bool vchar = c >= 0x21 && c <= 0x7e, obs_text = c >= 0x80;
    bool tchar = alpha(c) || digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
    bool unreserved = alpha(c) || digit(c) || (c && strchr("-._~", c));
    bool sub_delims = c && strchr("!$&'()*+,;=", c);
    bool hex = digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    bool qdtext = c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                  (c >= 0x5d && c <= 0x7e) || obs_text;
    bool ows = c == ' ' || c == '\t';
    return (tchar ? GOC__HC_TCHAR : 0) | (vchar || obs_text || ows ? GOC__HC_VALUE : 0) |
           (vchar ? GOC__HC_TARGET : 0) |
           (unreserved || sub_delims || c == '%' ? GOC__HC_HOST : 0) | (hex ? GOC__HC_HEX : 0) |
           (qdtext ? GOC__HC_QDTEXT : 0) | (ows ? GOC__HC_OWS : 0);
}

Test(chars, table_matches_the_abnf, .timeout = 10)
{
    for (int c = 0; c < 256; c++)
        cr_assert_eq(goc__http_cc[c], rfc_classes(c), "byte 0x%02x: table 0x%02x, ABNF 0x%02x", c,
                     goc__http_cc[c], rfc_classes(c));
}

Test(chars, no_class_holds_a_line_end, .timeout = 10)
{
    cr_assert_eq(goc__http_cc['\r'], 0);
    cr_assert_eq(goc__http_cc['\n'], 0);
    cr_assert_eq(goc__http_cc[0], 0);
}

static size_t plain_run(const char *p, size_t n, unsigned cls)
{
    size_t i = 0;
    while (i < n && (goc__http_cc[(unsigned char)p[i]] & cls))
        i++;
    return i;
}

Test(chars, table_scanner_matches_a_plain_loop, .timeout = 10)
{
    static const unsigned classes[] = {GOC__HC_TCHAR, GOC__HC_VALUE,  GOC__HC_TARGET, GOC__HC_HOST,
                                       GOC__HC_HEX,   GOC__HC_QDTEXT, GOC__HC_OWS};
    char buf[48];
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++) {
        int fill = classes[k] == GOC__HC_OWS ? ' ' : '0';
        for (int stop = 0; stop < 256; stop++) {
            for (size_t at = 0; at < 24; at++) {
                memset(buf, fill, sizeof buf);
                buf[at] = (char)stop;
                for (size_t n = 0; n <= 32; n++)
                    cr_assert_eq(goc__http_run(buf, n, classes[k]), plain_run(buf, n, classes[k]));
            }
        }
    }
}

/* The value and target scanners (scan_generic.c, or a per-arch one): any
 * byte value at any position of runs of in-class bytes of every kind
 * (HTAB and obs-text are in values, which a word-at-a-time test must not
 * mistake for controls), for every length. */
Test(chars, value_and_target_scanners_match_a_plain_loop, .timeout = 60)
{
    static const unsigned char fills[] = {'a', '~', '!', 0x80, 0xff, '\t', ' '};
    char buf[80];
    for (size_t f = 0; f < sizeof fills; f++) {
        for (int stop = 0; stop < 256; stop++) {
            for (size_t at = 0; at < 24; at++) {
                memset(buf, fills[f], sizeof buf);
                buf[(at * 7) % 24] = (char)fills[(f + 1) % sizeof fills]; /* mix kinds */
                buf[at] = (char)stop;
                for (size_t n = at; n <= at + 17; n++) {
                    cr_assert_eq(goc__http_value_run(buf, n), plain_run(buf, n, GOC__HC_VALUE),
                                 "fill 0x%02x stop 0x%02x at %zu n %zu", fills[f], stop, at, n);
                    cr_assert_eq(goc__http_target_run(buf, n), plain_run(buf, n, GOC__HC_TARGET),
                                 "fill 0x%02x stop 0x%02x at %zu n %zu", fills[f], stop, at, n);
                }
            }
        }
    }
}
