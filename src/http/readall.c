/*
 * readall.c — io.ReadAll with a bound, for request and response bodies.
 */
#include "http/http.h"

#include <errno.h>
#include <stdlib.h>

int goc__http_read_all(ssize_t (*read)(void *arg, void *buf, size_t n), void *arg, int64_t hint,
                       size_t max, char **data, size_t *len)
{
    *data = NULL;
    if (len)
        *len = 0;
    /* A known length is read into one buffer (+1 to see the end). */
    size_t cap = hint >= 0 && (uint64_t)hint < max ? (size_t)hint + 1 : 8192, n = 0;
    char *b = malloc(cap + 1);
    if (!b)
        return -ENOMEM;
    for (;;) {
        if (n == cap || (hint < 0 && cap - n < 4096)) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                return -ENOMEM;
            }
            b = nb;
        }
        ssize_t k = read(arg, b + n, cap - n);
        if (k < 0) {
            free(b);
            return (int)k;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max) {
            free(b);
            return GOC_EHTTP_BODY_TOO_LARGE;
        }
    }
    b[n] = 0;
    *data = b;
    if (len)
        *len = n;
    return 0;
}
