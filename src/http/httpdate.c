/*
 * httpdate.c — reading an HTTP-date (RFC 9110 section 5.6.7), as Go's
 * http.ParseTime: the three forms a recipient must accept, tried in turn,
 *
 *   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
 *   RFC 850       Sunday, 06-Nov-94 08:49:37 GMT
 *   asctime       Sun Nov  6 08:49:37 1994
 *
 * Each form must match whole; the weekday's name is checked for spelling,
 * not against the date (as Go). Two-digit years follow Go's rule: 69-99
 * are 19xx, 00-68 are 20xx. The zone must be "GMT" (Go also takes "UTC").
 * No locale, no strptime: the grammar is fixed ASCII, and the calendar
 * arithmetic is done here so time zones never enter.
 */
#include <errno.h>
#include <string.h>

#include "http/http.h"

static const char *const wday_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const month[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* A broken-down UTC time, checked field by field. */
typedef struct hdate {
    int year, mon, day, hour, min, sec; /* mon 0..11 */
} hdate;

/* Accept the literal lit at *p. */
static bool lit(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* One of the names in tab[0, n) at *p: its index, or -1. */
static int name(const char **p, const char *const *tab, int n)
{
    for (int i = 0; i < n; i++)
        if (lit(p, tab[i]))
            return i;
    return -1;
}

/* Exactly n digits at *p (a leading space counts as 0 if pad). */
static bool digits(const char **p, int n, bool pad, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (pad && i == 0 && c == ' ')
            c = '0';
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* "HH:MM:SS" */
static bool hms(const char **p, hdate *d)
{
    return digits(p, 2, false, &d->hour) && lit(p, ":") && digits(p, 2, false, &d->min) &&
           lit(p, ":") && digits(p, 2, false, &d->sec);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to the civil date y-m-d (m 1..12): Howard
 * Hinnant's days_from_civil, exact for every proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int to_time(const hdate *d, time_t *t)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = mdays[d->mon] + (d->mon == 1 && leap(d->year));
    if (d->day < 1 || d->day > dim || d->hour > 23 || d->min > 59 || d->sec > 60)
        return -EINVAL;
    int64_t days = days_from_civil(d->year, d->mon + 1, d->day);
    /* a leap second (:60) reads as the next second, as Go normalises it */
    *t = (time_t)(days * 86400 + d->hour * 3600 + d->min * 60 + d->sec);
    return 0;
}

static bool imf_fixdate(const char *p, hdate *d)
{
    return name(&p, wday_short, 7) >= 0 && lit(&p, ", ") && digits(&p, 2, false, &d->day) &&
           lit(&p, " ") && (d->mon = name(&p, month, 12)) >= 0 && lit(&p, " ") &&
           digits(&p, 4, false, &d->year) && lit(&p, " ") && hms(&p, d) && lit(&p, " GMT") &&
           *p == '\0';
}

static bool rfc850(const char *p, hdate *d)
{
    int yy = 0;
    bool ok = name(&p, wday_long, 7) >= 0 && lit(&p, ", ") && digits(&p, 2, false, &d->day) &&
              lit(&p, "-") && (d->mon = name(&p, month, 12)) >= 0 && lit(&p, "-") &&
              digits(&p, 2, false, &yy) && lit(&p, " ") && hms(&p, d) &&
              (lit(&p, " GMT") || lit(&p, " UTC")) && *p == '\0';
    d->year = yy >= 69 ? 1900 + yy : 2000 + yy;
    return ok;
}

static bool asctime_date(const char *p, hdate *d)
{
    return name(&p, wday_short, 7) >= 0 && lit(&p, " ") && (d->mon = name(&p, month, 12)) >= 0 &&
           lit(&p, " ") && digits(&p, 2, true, &d->day) && lit(&p, " ") && hms(&p, d) &&
           lit(&p, " ") && digits(&p, 4, false, &d->year) && *p == '\0';
}

int goc__http_parse_time(const char *s, time_t *t)
{
    hdate d = {0};
    if (!s)
        return -EINVAL;
    if (imf_fixdate(s, &d) || rfc850(s, &d) || asctime_date(s, &d))
        return to_time(&d, t);
    return -EINVAL;
}
