/*
 * cookie.c — a Set-Cookie field value, read as Go's http.ParseSetCookie
 * (what readSetCookies applies to each Set-Cookie of a response):
 *
 *   name=value; Attr=val; Flag ...
 *
 * split at ';', each part trimmed of ASCII white space. The first part
 * must be a token name, '=', and a value of cookie-octets (space and
 * comma allowed, as Go's lenient reading; double quotes around it are
 * dropped and remembered). Attributes are matched by their ASCII
 * lower-cased name: path, domain, expires (RFC 1123's form or its
 * dashed variant "Mon, 02-Jan-2006 15:04:05 MST", any zone taken as
 * UTC), max-age (an integer without leading zeros; <= 0 means delete),
 * secure, httponly, samesite. An attribute whose value holds a byte
 * outside cookie-octet is ignored, as is one Go cannot read.
 *
 * The calendar is httpdate.c's: an Expires value is checked field by
 * field here, rewritten as an IMF-fixdate and handed to
 * goc__http_parse_time. No allocation, no state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/chars.h"
#include "http/cookie.h"
#include "http/http.h"

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static goc__span trim(const char *p, size_t n)
{
    while (n > 0 && is_ws(*p))
        p++, n--;
    while (n > 0 && is_ws(p[n - 1]))
        n--;
    return (goc__span){p, n};
}

static bool valid_value_byte(unsigned char b)
{
    return b >= 0x20 && b < 0x7f && b != '"' && b != ';' && b != '\\';
}

/* Go's parseCookieValue: quotes dropped if allowed; every byte valid. */
static bool parse_value(goc__span *v, bool allow_quote, bool *quoted)
{
    *quoted = false;
    if (allow_quote && v->n > 1 && v->p[0] == '"' && v->p[v->n - 1] == '"') {
        v->p++;
        v->n -= 2;
        *quoted = true;
    }
    for (size_t i = 0; i < v->n; i++)
        if (!valid_value_byte((unsigned char)v->p[i]))
            return false;
    return true;
}

static bool valid_name(goc__span s)
{
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (!goc__hc_is((unsigned char)s.p[i], GOC__HC_TCHAR))
            return false;
    return true;
}

/* Go's strconv.Atoi then ParseSetCookie's checks: no leading zero. */
static bool parse_max_age(goc__span v, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (v.n > 0 && (v.p[0] == '+' || v.p[0] == '-'))
        neg = v.p[i++] == '-';
    if (i == v.n)
        return false;
    int64_t x = 0;
    for (; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9' || x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (v.p[i] - '0');
    }
    if (x != 0 && v.p[0] == '0')
        return false;
    *out = neg || x == 0 ? -1 : x;
    return true;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* p[0, n) is lit[0, n), ASCII letters in either case. */
static bool lit_ci(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != lower(lit[i]))
            return false;
    return true;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "Mon, 02 Jan 2006 15:04:05 MST" or with '-' around the month (Go's
 * time.Parse: names in any case, a one-digit hour, a zone of 3 to 5
 * upper-case letters, taken as UTC). */
static bool parse_expires(goc__span v, int64_t *out)
{
    const char *p = v.p;
    char buf[64];
    if (v.n < 27 || v.n > 40 || p[3] != ',' || p[4] != ' ' || !digit(p[5]) || !digit(p[6]))
        return false;
    char sep = p[7];
    if ((sep != ' ' && sep != '-') || p[11] != sep || p[16] != ' ')
        return false;
    for (int i = 12; i < 16; i++)
        if (!digit(p[i]))
            return false;
    size_t i = 17, h = 0;
    while (i < v.n && digit(p[i]) && h < 2)
        i++, h++;
    if (h == 0 || v.n < i + 10 || p[i] != ':' || !digit(p[i + 1]) || !digit(p[i + 2]) ||
        p[i + 3] != ':' || !digit(p[i + 4]) || !digit(p[i + 5]) || p[i + 6] != ' ')
        return false;
    size_t z = i + 7, zn = v.n - z;
    if (zn < 3 || zn > 5)
        return false;
    for (size_t k = z; k < v.n; k++)
        if (p[k] < 'A' || p[k] > 'Z')
            return false;
    char wd[4] = {p[0], p[1], p[2], 0}, mon[4] = {p[8], p[9], p[10], 0};
    /* names as httpdate.c spells them: "Mon", "Jan" */
    wd[0] &= ~0x20, wd[1] |= 0x20, wd[2] |= 0x20;
    mon[0] &= ~0x20, mon[1] |= 0x20, mon[2] |= 0x20;
    if (!lit_ci(p, wd, 3) || !lit_ci(p + 8, mon, 3))
        return false;
    snprintf(buf, sizeof buf, "%s, %c%c %s %.4s %s%.*s:%c%c:%c%c GMT", wd, p[5], p[6], mon, p + 12,
             h == 1 ? "0" : "", (int)h, p + 17, p[i + 1], p[i + 2], p[i + 4], p[i + 5]);
    time_t t;
    if (goc__http_parse_time(buf, &t) < 0)
        return false;
    *out = (int64_t)t;
    return true;
}

static int same_site(goc__span v)
{
    if (v.n == 3 && lit_ci(v.p, "lax", 3))
        return GOC__SAMESITE_LAX;
    if (v.n == 6 && lit_ci(v.p, "strict", 6))
        return GOC__SAMESITE_STRICT;
    if (v.n == 4 && lit_ci(v.p, "none", 4))
        return GOC__SAMESITE_NONE;
    return GOC__SAMESITE_DEFAULT;
}

static bool attr_is(goc__span a, const char *name)
{
    size_t n = strlen(name);
    return a.n == n && lit_ci(a.p, name, n);
}

/* One attribute part (trimmed, non-empty) into c. */
static void attribute(goc__set_cookie *c, goc__span part)
{
    const char *eq = memchr(part.p, '=', part.n);
    goc__span a = {part.p, eq ? (size_t)(eq - part.p) : part.n};
    goc__span v = {eq ? eq + 1 : part.p + part.n, eq ? part.n - a.n - 1 : 0};
    bool q;
    if (!parse_value(&v, false, &q))
        return;
    if (attr_is(a, "samesite"))
        c->same_site = same_site(v);
    else if (attr_is(a, "secure"))
        c->secure = true;
    else if (attr_is(a, "httponly"))
        c->http_only = true;
    else if (attr_is(a, "domain"))
        c->domain = v;
    else if (attr_is(a, "path"))
        c->path = v;
    else if (attr_is(a, "max-age"))
        parse_max_age(v, &c->max_age); /* a bad one leaves the last good one */
    else if (attr_is(a, "expires"))
        c->has_expires = parse_expires(v, &c->expires);
}

int goc__parse_set_cookie(const char *line, goc__set_cookie *c)
{
    memset(c, 0, sizeof *c);
    goc__span all = trim(line, strlen(line));
    if (all.n == 0)
        return -EINVAL; /* http: blank cookie */
    const char *semi = memchr(all.p, ';', all.n);
    goc__span first = trim(all.p, semi ? (size_t)(semi - all.p) : all.n);
    const char *eq = memchr(first.p, '=', first.n);
    if (!eq)
        return -EINVAL;
    c->name = trim(first.p, (size_t)(eq - first.p));
    c->value = (goc__span){eq + 1, first.n - (size_t)(eq - first.p) - 1};
    if (!valid_name(c->name) || !parse_value(&c->value, true, &c->quoted))
        return -EINVAL;
    const char *p = semi ? semi + 1 : all.p + all.n, *end = all.p + all.n;
    while (p < end) {
        const char *s = memchr(p, ';', (size_t)(end - p));
        goc__span part = trim(p, s ? (size_t)(s - p) : (size_t)(end - p));
        p = s ? s + 1 : end;
        if (part.n > 0)
            attribute(c, part);
    }
    return 0;
}
