/*
 * date.c — HTTP-dates out: IMF-fixdate (RFC 9110 section 5.6.7), and the
 * Date field every response carries, cached once a second.
 *
 * The cache is per thread (a worker formats the date once a second, and
 * no cache line is shared): the returned pointer is the calling thread's
 * and valid until its next call, so the caller copies it before anything
 * that could park the goroutine (and move it to another thread).
 */
#include "http/http.h"

#include <string.h>
#include <time.h>

void goc__http_format_time(time_t t, char buf[30])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    memcpy(buf, days[tm.tm_wday], 3);
    buf[3] = ',';
    buf[4] = ' ';
    buf[5] = (char)('0' + tm.tm_mday / 10);
    buf[6] = (char)('0' + tm.tm_mday % 10);
    buf[7] = ' ';
    memcpy(buf + 8, months[tm.tm_mon], 3);
    buf[11] = ' ';
    int y = tm.tm_year + 1900;
    if (y < 0 || y > 9999)
        y = 9999;
    for (int i = 15; i >= 12; i--, y /= 10)
        buf[i] = (char)('0' + y % 10);
    buf[16] = ' ';
    int f[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
    for (int i = 0; i < 3; i++) {
        buf[17 + 3 * i] = (char)('0' + f[i] / 10);
        buf[18 + 3 * i] = (char)('0' + f[i] % 10);
        buf[19 + 3 * i] = i < 2 ? ':' : ' ';
    }
    memcpy(buf + 26, "GMT", 4);
}

/* Per thread: one formatting a second per worker, no shared line. */
static _Thread_local char date_tls[32];
static _Thread_local int64_t date_tls_sec;

const char *goc__http_date(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (date_tls_sec != ts.tv_sec) {
        goc__http_format_time(ts.tv_sec, date_tls);
        date_tls_sec = ts.tv_sec;
    }
    return date_tls;
}
