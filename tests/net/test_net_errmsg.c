/*
 * test_errmsg.c (net) — the net layer's failures in Go's words, through
 * goc_errmsg: the operation, the network, the address and the reason.
 */
#include "netutil.h"

static char got[256];

static int main_dial_errors(void *arg)
{
    (void)arg;
    GO_CHECK(goc_dial("tcp", "127.0.0.1:99999", GOC_SECOND) == -EINVAL, "port 99999");
    GO_CHECK(strcmp(goc_errmsg(), "dial tcp: address 127.0.0.1:99999: invalid port") == 0, "%s",
             goc_errmsg());
    GO_CHECK(goc_dial("tcp", "localhost", GOC_SECOND) == -EINVAL, "no port");
    GO_CHECK(strcmp(goc_errmsg(), "dial tcp: address localhost: missing port in address") == 0,
             "%s", goc_errmsg());
    GO_CHECK(goc_dial("tcp", "::1:80", GOC_SECOND) == -EINVAL, "ipv6 without brackets");
    GO_CHECK(strstr(goc_errmsg(), "too many colons") != NULL, "%s", goc_errmsg());
    GO_CHECK(goc_dial("foo", "127.0.0.1:80", GOC_SECOND) == -EINVAL, "network foo");
    GO_CHECK(strcmp(goc_errmsg(), "dial foo: unknown network foo") == 0, "%s", goc_errmsg());
    GO_CHECK(goc_dial("tcp", "localhost:nosuchservice", GOC_SECOND) == GOC_ENOSERVICE, "service");
    GO_CHECK(strcmp(goc_errmsg(), "dial tcp: address localhost:nosuchservice: unknown port") == 0,
             "%s", goc_errmsg());
    GO_CHECK(goc_listen("tcp", "127.0.0.1:http-alt-nope") < 0, "listen bad service");
    GO_CHECK(strncmp(goc_errmsg(), "listen tcp: address", 19) == 0, "%s", goc_errmsg());

    /* A port nobody listens on: listen, note the port, close. */
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen: %s", goc_errmsg());
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(lfd));
    goc_close(lfd);
    int fd = goc_dial("tcp", addr, 5 * GOC_SECOND);
    GO_CHECK(fd == -ECONNREFUSED, "dial %s: %d", addr, fd);
    char want[128];
    snprintf(want, sizeof want, "dial tcp %s: %s", addr, goc_strerror(-ECONNREFUSED));
    GO_CHECK(strcmp(goc_errmsg(), want) == 0, "%s, want %s", goc_errmsg(), want);

    /* I/O on a descriptor: the operation and the fd. */
    char b;
    GO_CHECK(goc_read(-1, &b, 1) == -EBADF, "read(-1)");
    snprintf(got, sizeof got, "%s", goc_errmsg());
    GO_CHECK(strncmp(got, "read fd -1: ", 12) == 0, "%s", got);
    GO_CHECK(strcmp(goc_strerror(GOC_ENOTFOUND), "no such host") == 0, "%s",
             goc_strerror(GOC_ENOTFOUND));
    return 0;
}

Test(net_errmsg, dial_listen_and_io_failures_in_gos_words, .timeout = 20)
{
    cr_assert_eq(run_main(main_dial_errors, NULL), 0);
}
