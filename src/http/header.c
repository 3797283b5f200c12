/*
 * header.c — the header map (Go's http.Header) as an ordered array.
 *
 * A request's map is filled by the connection loop with entries that
 * point into the request's head (names and values NUL-terminated in
 * place), in the order and spelling received; a response's map is filled
 * by the handler, its strings copied into the request's arena. Lookups
 * compare names case-insensitively by a linear scan: a head has at most
 * 100 fields, and the names are short, so a scan beats hashing until the
 * map is far larger than HTTP allows.
 *
 * Invariants: v[0, n) are the live entries in order; every name is a
 * token and no value holds CR, LF or NUL (checked when set, so nothing a
 * handler does can split a response). Not locked: a map belongs to the
 * goroutine serving its request.
 */
#include "http/http.h"

#include <errno.h>
#include <string.h>

#include "http/chars.h"

void goc__http_header_init(goc_http_header *h, goc__arena *arena)
{
    h->v = NULL;
    h->n = h->cap = 0;
    h->arena = arena;
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool goc__http_token_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

int goc__http_header_find(const goc_http_header *h, const char *name, size_t n)
{
    for (uint32_t i = 0; i < h->n; i++)
        if (h->v[i].name_len == n && goc__http_token_eq(h->v[i].name, name, n))
            return (int)i;
    return -1;
}

int goc__http_header_push(goc_http_header *h, const char *name, uint32_t name_len,
                          const char *value, uint32_t value_len)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 8;
        goc__hentry *v = goc__arena_alloc(h->arena, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        if (h->n)
            memcpy(v, h->v, h->n * sizeof *v);
        h->v = v; /* the old array stays in the arena until the request ends */
        h->cap = cap;
    }
    h->v[h->n++] = (goc__hentry){name, value, name_len, value_len};
    return 0;
}

GOC_API const char *goc_http_header_get(const goc_http_header *h, const char *name)
{
    if (!h || !name)
        return NULL;
    int i = goc__http_header_find(h, name, strlen(name));
    return i < 0 ? NULL : h->v[i].value;
}

GOC_API size_t goc_http_header_values(const goc_http_header *h, const char *name, const char **out,
                                      size_t n)
{
    if (!h || !name)
        return 0;
    size_t len = strlen(name), count = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        if (h->v[i].name_len != len || !goc__http_token_eq(h->v[i].name, name, len))
            continue;
        if (count < n)
            out[count] = h->v[i].value;
        count++;
    }
    return count;
}

/* A name that may be sent: a non-empty token. A value: no CR, LF, NUL. */
static int check_field(const char *name, size_t name_len, const char *value)
{
    if (name_len == 0 || goc__http_run(name, name_len, GOC__HC_TCHAR) != name_len)
        return goc__errorf(-EINVAL, "http: invalid header field name \"%.64s\"", name);
    if (strpbrk(value, "\r\n"))
        return goc__errorf(-EINVAL, "http: invalid header field value for \"%.64s\"", name);
    return 0;
}

GOC_API int goc_http_header_add(goc_http_header *h, const char *name, const char *value)
{
    if (!h || !name || !value)
        return -EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    int rc = check_field(name, nl, value);
    if (rc < 0)
        return rc;
    char *n = goc__arena_strndup(h->arena, name, nl);
    char *v = goc__arena_strndup(h->arena, value, vl);
    if (!n || !v)
        return -ENOMEM;
    return goc__http_header_push(h, n, (uint32_t)nl, v, (uint32_t)vl);
}

GOC_API void goc_http_header_del(goc_http_header *h, const char *name)
{
    if (!h || !name)
        return;
    size_t len = strlen(name);
    uint32_t j = 0;
    for (uint32_t i = 0; i < h->n; i++)
        if (h->v[i].name_len != len || !goc__http_token_eq(h->v[i].name, name, len))
            h->v[j++] = h->v[i];
    h->n = j;
}

GOC_API int goc_http_header_set(goc_http_header *h, const char *name, const char *value)
{
    if (!h || !name || !value)
        return -EINVAL;
    size_t nl = strlen(name);
    int rc = check_field(name, nl, value);
    if (rc < 0)
        return rc;
    int i = goc__http_header_find(h, name, nl);
    if (i < 0)
        return goc_http_header_add(h, name, value);
    /* Replace the first in place (keeps its position), drop the others. */
    size_t vl = strlen(value);
    char *v = goc__arena_strndup(h->arena, value, vl);
    if (!v)
        return -ENOMEM;
    h->v[i].value = v;
    h->v[i].value_len = (uint32_t)vl;
    uint32_t j = (uint32_t)i + 1;
    for (uint32_t k = j; k < h->n; k++)
        if (h->v[k].name_len != nl || !goc__http_token_eq(h->v[k].name, name, nl))
            h->v[j++] = h->v[k];
    h->n = j;
    return 0;
}

GOC_API size_t goc_http_header_len(const goc_http_header *h)
{
    return h ? h->n : 0;
}

GOC_API void goc_http_header_at(const goc_http_header *h, size_t i, const char **name,
                                const char **value)
{
    if (!h || i >= h->n) {
        *name = *value = NULL;
        return;
    }
    *name = h->v[i].name;
    *value = h->v[i].value;
}
