/*
 * scan_generic.c — the portable class scanner (chars.h): a table lookup per
 * byte, eight bytes per loop trip so the loads and tests pipeline.
 */
#include "http/chars.h"

size_t goc__http_run(const char *p, size_t n, unsigned cls)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* The AND of eight lookups is non-zero only if all are in cls. */
        unsigned all = goc__http_cc[s[i]] & goc__http_cc[s[i + 1]] & goc__http_cc[s[i + 2]] &
                       goc__http_cc[s[i + 3]] & goc__http_cc[s[i + 4]] & goc__http_cc[s[i + 5]] &
                       goc__http_cc[s[i + 6]] & goc__http_cc[s[i + 7]];
        if (!(all & cls))
            break;
    }
    while (i < n && (goc__http_cc[s[i]] & cls))
        i++;
    return i;
}
