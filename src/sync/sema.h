/*
 * sema.h — Go's runtime semaphore (runtime/sema.go): sleep until *addr > 0
 * and decrement it; increment it and wake a sleeper. The building block of
 * every sync primitive here. Works for goroutines and plain threads.
 */
#ifndef GOC_SEMA_H
#define GOC_SEMA_H

#include "runtime/list.h"
#include "runtime/park.h"

/* lifo: queue at the front (a waiter that already waited once, Mutex). */
void goc__semacquire(uint32_t *addr, bool lifo, const char *reason);
/* handoff: give the count straight to the first waiter (Mutex starvation
 * mode), so no newcomer can take it first. */
void goc__semrelease(uint32_t *addr, bool handoff);

#endif /* GOC_SEMA_H */
