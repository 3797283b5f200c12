/*
 * signal.c — the runtime's signal handlers.
 *
 * SIGSEGV/SIGBUS: a fault in the guard page of the running goroutine's
 * stack is a stack overflow: say so, naming the goroutine, and exit 2.
 * The handler runs on a per-M alternate signal stack (the goroutine's own
 * stack is exhausted). Any other fault is passed to the handler installed
 * before ours (a sanitizer's), or re-raised with the default action.
 *
 * SIGQUIT (unless the program installed its own handler first): wake
 * sysmon, which dumps every goroutine and exits 2, as Go does. The dump is
 * not done in the handler: it takes locks and unwinds stacks.
 */
#include "runtime/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction old_segv, old_bus;

/* Async-signal-safe formatting helpers. */
static void put(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void put_u(unsigned long long v, int base)
{
    char buf[32];
    int i = (int)sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = "0123456789abcdef"[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v && i > 0);
    if (base == 16)
        put("0x");
    put(buf + i);
}

static void overflow(goc__g *g, void *addr)
{
    put("fatal error: stack overflow\n\ngoroutine ");
    put_u(g->id, 10);
    put(" [running]");
    if (g->name) {
        put(" (");
        put(g->name);
        put(")");
    }
    put(":\n\tstack of ");
    put_u((unsigned long long)(g->stack.hi - g->stack.lo), 10);
    put(" bytes exhausted (fault at ");
    put_u((unsigned long long)(uintptr_t)addr, 16);
    put(")\n\tgive it a larger stack: goc_go_with(fn, arg, &(goc_go_opts){.stack_size = ...})"
        " or GOC_STACK_SIZE\n");
    _exit(2);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    goc__m *m = goc__getm();
    /* An overflow: the fault is in the guard page, or (unguarded stacks)
     * the stack pointer itself has left the stack. */
    if (m && m->curg && m->curg != &m->g0 && m->curg->stack.lo &&
        (goc__stack_is_guard_fault(&m->curg->stack, si->si_addr) ||
         (char *)goc__ctx_fault_sp(uc) < m->curg->stack.lo))
        overflow(m->curg, si->si_addr);
    struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, si, uc);
        return;
    }
    if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Re-execute the faulting instruction with the default action. */
    signal(sig, SIG_DFL);
}

static void on_quit(int sig)
{
    (void)sig;
    atomic_store(&goc__sched.sigquit, 1);
    goc__sysmon_wake();
}

void goc__signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);

    struct sigaction cur;
    if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
        !(cur.sa_flags & SA_SIGINFO)) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_quit;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGQUIT, &sa, NULL);
    }
}

void goc__signals_thread_init(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size >= ALTSTACK_SIZE)
        return;
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    ss.ss_sp = p;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
}
