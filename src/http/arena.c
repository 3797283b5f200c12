/*
 * arena.c — a request's memory: a bump allocator freed in one step.
 *
 * Everything a request allocates (header maps of the response, decoded
 * query values, path values, a copy of a field) comes from its arena, so
 * nothing of a request can leak past it: goc__arena_reset frees it all
 * when the request ends (lwan's idea). The first block belongs to the
 * connection and is reused by each of its requests, so a request that
 * allocates little costs no malloc; larger ones chain malloc'ed blocks.
 *
 * Not locked: an arena belongs to the goroutine serving its request.
 */
#include "http/http.h"

#include <stdlib.h>
#include <string.h>

struct goc__arena_blk {
    goc__arena_blk *next;
    size_t size; /* usable bytes after the header */
    _Alignas(16) char data[];
};

void goc__arena_init(goc__arena *a, char *first, size_t size)
{
    a->first = first;
    a->first_size = size;
    a->more = NULL;
    a->cur = first;
    a->end = first + size;
}

static char *align16(char *p)
{
    return (char *)(((uintptr_t)p + 15) & ~(uintptr_t)15);
}

/* Slow path: a new block big enough for n (at least 4 KiB, doubling). */
static void *arena_grow(goc__arena *a, size_t n)
{
    size_t size = a->more ? a->more->size * 2 : 4096;
    while (size < n)
        size *= 2;
    if (size > (64u << 20) && size / 2 >= n)
        size /= 2;
    goc__arena_blk *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = a->more;
    b->size = size;
    a->more = b;
    a->cur = b->data + n;
    a->end = b->data + size;
    return b->data;
}

void *goc__arena_alloc(goc__arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    char *p = align16(a->cur);
    if (p <= a->end && (size_t)(a->end - p) >= n) {
        a->cur = p + n;
        return p;
    }
    return arena_grow(a, n);
}

char *goc__arena_strndup(goc__arena *a, const char *s, size_t n)
{
    char *p = goc__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void goc__arena_reset(goc__arena *a)
{
    goc__arena_blk *b = a->more;
    while (b) {
        goc__arena_blk *next = b->next;
        free(b);
        b = next;
    }
    a->more = NULL;
    a->cur = a->first;
    a->end = a->first + a->first_size;
}
