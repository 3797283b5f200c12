/*
 * list.h — the one intrusive doubly-linked list of goc's internals: wait
 * queues of channels and semaphores, a context's children.
 *
 * An element embeds a goc__link; the list is its first and last link, so
 * the zero value is an empty list (a calloc'ed channel, a static
 * semaphore). A link that is on no list has prev == NULL and is not the
 * head: goc__list_linked tells. Whoever calls these holds the lock that
 * guards the list (the functions take none).
 */
#ifndef GOC_RUNTIME_LIST_H
#define GOC_RUNTIME_LIST_H

#include <goc.h> /* struct goc__list: public types embed it */
#include <stdbool.h>
#include <stddef.h>

typedef struct goc__link {
    struct goc__link *next, *prev;
} goc__link;

typedef struct goc__list goc__list;

/* The struct of type T whose member m is the link l. */
#define GOC__CONTAINER_OF(l, T, m) ((T *)(void *)((char *)(l)-offsetof(T, m)))

static inline void goc__list_push_back(goc__list *l, goc__link *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static inline void goc__list_push_front(goc__list *l, goc__link *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
}

/* n is on l (and not merely a stale link): prev set, or l's head. */
static inline bool goc__list_linked(const goc__list *l, const goc__link *n)
{
    return n->prev != NULL || l->head == n;
}

/* Unlink n from l; n must be on l. n's links are cleared. */
static inline void goc__list_remove(goc__list *l, goc__link *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->next = n->prev = NULL;
}

#endif /* GOC_RUNTIME_LIST_H */
