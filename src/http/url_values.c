/*
 * url_values.c — Go's url.Values: a multimap from names to values, kept
 * as one array of (name, value) pairs in insertion order (a name's values
 * in the order they were added), with Go's ParseQuery and Encode.
 *
 * Lookups are linear: a query holds a few pairs. Encode sorts by name
 * (stable: a name's values keep their order), as Go's sort of the map's
 * keys does. Each pair's strings are one allocation. Nothing is locked:
 * a goc_url_values belongs to its caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/url.h"

typedef struct vpair {
    char *name, *value; /* one allocation: name, NUL, value, NUL */
} vpair;

struct goc_url_values {
    vpair *v;
    size_t n, cap;
};

GOC_API goc_url_values *goc_url_values_new(void)
{
    return calloc(1, sizeof(goc_url_values));
}

GOC_API void goc_url_values_free(goc_url_values *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i].name);
    free(v->v);
    free(v);
}

static int add_n(goc_url_values *v, const char *k, size_t kn, const char *val, size_t vn)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        vpair *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    char *s = malloc(kn + vn + 2);
    if (!s)
        return -ENOMEM;
    memcpy(s, k, kn);
    s[kn] = '\0';
    memcpy(s + kn + 1, val, vn);
    s[kn + 1 + vn] = '\0';
    v->v[v->n++] = (vpair){s, s + kn + 1};
    return 0;
}

GOC_API int goc_url_values_add(goc_url_values *v, const char *k, const char *val)
{
    return add_n(v, k, strlen(k), val, strlen(val));
}

GOC_API void goc_url_values_del(goc_url_values *v, const char *k)
{
    size_t j = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->v[i].name, k) == 0)
            free(v->v[i].name);
        else
            v->v[j++] = v->v[i];
    }
    v->n = j;
}

GOC_API int goc_url_values_set(goc_url_values *v, const char *k, const char *val)
{
    /* Added first, so a failure leaves the old values in place. */
    size_t n = v->n;
    int rc = goc_url_values_add(v, k, val);
    if (rc < 0)
        return rc;
    vpair keep = v->v[n];
    v->n = n;
    goc_url_values_del(v, k);
    v->v[v->n++] = keep; /* del only shrinks: room is there */
    return 0;
}

GOC_API const char *goc_url_values_get(const goc_url_values *v, const char *k)
{
    for (size_t i = 0; v && i < v->n; i++)
        if (strcmp(v->v[i].name, k) == 0)
            return v->v[i].value;
    return NULL;
}

GOC_API size_t goc_url_values_len(const goc_url_values *v)
{
    return v ? v->n : 0;
}

GOC_API int goc_url_values_at(const goc_url_values *v, size_t i, const char **k, const char **val)
{
    if (!v || i >= v->n)
        return -ERANGE;
    *k = v->v[i].name;
    *val = v->v[i].value;
    return 0;
}

/* One "name=value" pair of a query: 0, -EINVAL (emsg set) or -ENOMEM. */
static int parse_pair(goc_url_values *v, const char *p, size_t n, char *emsg)
{
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    char *k = NULL, *val = NULL;
    size_t kl, vl;
    int rc = goc__url_unescape(p, kn, GOC__ENC_QUERY_COMPONENT, &k, &kl, emsg);
    if (rc == 0)
        rc = goc__url_unescape(eq ? eq + 1 : "", eq ? n - kn - 1 : 0, GOC__ENC_QUERY_COMPONENT,
                               &val, &vl, emsg);
    if (rc == 0)
        rc = add_n(v, k, kl, val, vl);
    free(k);
    free(val);
    return rc;
}

GOC_API int goc_url_parse_query(const char *query, goc_url_values **out)
{
    char emsg[GOC__URL_EMSG], first[GOC__URL_EMSG] = "";
    goc_url_values *v = goc_url_values_new();
    *out = NULL;
    if (!v)
        return -ENOMEM;
    const char *p = query;
    while (*p) {
        size_t n = strcspn(p, "&");
        int rc = 0;
        /* Go 1.17: ';' no longer separates pairs, and a pair holding one
         * is an error (a cache and its origin could split it apart). */
        if (memchr(p, ';', n)) {
            snprintf(emsg, sizeof emsg, "invalid semicolon separator in query");
            rc = -EINVAL;
        } else if (n > 0) {
            rc = parse_pair(v, p, n, emsg);
        }
        if (rc == -ENOMEM) {
            goc_url_values_free(v);
            return rc;
        }
        if (rc < 0 && !first[0])
            memcpy(first, emsg, sizeof first);
        p += n + (p[n] == '&');
    }
    *out = v;
    return first[0] ? goc__errorf(-EINVAL, "%s", first) : 0;
}

static int cmp_pair(const void *a, const void *b)
{
    const vpair *x = *(const vpair *const *)a, *y = *(const vpair *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x < y ? -1 : x > y);
}

GOC_API char *goc_url_values_encode(const goc_url_values *v)
{
    goc__ubuf b = {0};
    size_t n = v ? v->n : 0;
    const vpair **order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = &v->v[i];
    qsort(order, n, sizeof *order, cmp_pair); /* by name, then position */
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            goc__ubuf_addc(&b, '&');
        goc__url_escape_add(&b, order[i]->name, strlen(order[i]->name), GOC__ENC_QUERY_COMPONENT);
        goc__ubuf_addc(&b, '=');
        goc__url_escape_add(&b, order[i]->value, strlen(order[i]->value), GOC__ENC_QUERY_COMPONENT);
    }
    free(order);
    return goc__ubuf_take(&b);
}
