/*
 * test_dns_nss.c — names only NSS knows (dns.c): when nsswitch.conf's
 * hosts line names a source besides files and dns, a name c-ares does not
 * find is asked again of getaddrinfo(3).
 *
 * GOC_NSSWITCH_CONF points goc at a conf of the test's own (glibc still
 * reads the real one), and CARES_HOSTS gives c-ares an empty hosts file.
 * A name that only the real /etc/hosts has then stands in for an mDNS or
 * LDAP name: c-ares cannot find it, getaddrinfo can. Not "localhost":
 * c-ares answers that one itself, hosts file or not (RFC 6761).
 *
 * dns.c reads the conf once per process. Each Criterion test is its own
 * process, so each sets the variables before its first lookup (and checks
 * that no earlier test left them set); probe_exec tries one conf in a
 * fresh process: this executable again, run by probe_hook before
 * Criterion starts (a plain fork could not start the runtime's threads
 * under TSan, the test's process having threads already).
 *
 * A name not in the hosts file costs c-ares a DNS query, and a query is
 * sometimes lost (c-ares asks again after 5 s): dials that must resolve
 * get DIAL_TIMEOUT, long enough for that.
 */
#include <netdb.h>
#include <sys/wait.h>

#include "netutil.h"

/* Each test writes its conf and hosts files in the private directory. */
TestSuite(nss, .fini = tmpdir_cleanup);

#define DIAL_TIMEOUT (20 * GOC_SECOND)

/* ---- setup ----------------------------------------------------------------------- */

/* A name the real /etc/hosts gives 127.0.0.1, other than localhost; or
 * "localhost" if there is none (the tests that need one then skip). */
static void hosts_name(char *buf, size_t n)
{
    snprintf(buf, n, "localhost");
    FILE *f = fopen("/etc/hosts", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "#")] = '\0';
        char *save, *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok || strcmp(tok, "127.0.0.1") != 0)
            continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
            if (strncmp(tok, "localhost", 9) != 0) {
                snprintf(buf, n, "%s", tok);
                fclose(f);
                return;
            }
        }
    }
    fclose(f);
}

/* Whether glibc itself resolves name to an IPv4 address. */
static bool glibc_resolves(const char *name)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return false;
    freeaddrinfo(res);
    return true;
}

/* <tmpdir>/name holding text; the path in buf. */
static const char *tmp_file(char *buf, size_t n, const char *name, const char *text)
{
    unix_path(buf, n, name);
    FILE *f = fopen(buf, "we");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return buf;
}

/* A conf file holding conf (NULL: a path where there is no file). */
static const char *conf_file(char *buf, size_t n, const char *conf)
{
    if (conf)
        return tmp_file(buf, n, "nsswitch.conf", conf);
    return unix_path(buf, n, "no-such-nsswitch.conf");
}

/* Point goc at conf (as conf_file) and, if empty_hosts, c-ares at an empty
 * hosts file, after checking that no other test's variables leaked into
 * this process. */
static void use_env(const char *conf, bool empty_hosts)
{
    cr_assert_null(getenv("GOC_NSSWITCH_CONF"), "GOC_NSSWITCH_CONF leaked into this test");
    cr_assert_null(getenv("CARES_HOSTS"), "CARES_HOSTS leaked into this test");
    char path[128];
    setenv("GOC_NSSWITCH_CONF", conf_file(path, sizeof path, conf), 1);
    if (empty_hosts)
        setenv("CARES_HOSTS", tmp_file(path, sizeof path, "hosts", ""), 1);
}

/* ---- dialing a name ------------------------------------------------------------- */

typedef struct probe {
    const char *network, *name;
    int rc; /* out: 0 if the dial reached the listener, else its error */
} probe;

/* Dial name:port of a 127.0.0.1 listener on network; a connection must
 * come from 127.0.0.1 and carry bytes. */
static void dial_name(probe *p, int lfd)
{
    char addr[320];
    snprintf(addr, sizeof addr, "%s:%d", p->name, sock_port(lfd));
    int c = goc_dial(p->network, addr, DIAL_TIMEOUT);
    p->rc = c < 0 ? c : 0;
    if (c < 0)
        return;
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int s = goc_accept(lfd, (struct sockaddr *)&peer, &len);
    GO_CHECK(s >= 0, "accept: %s", goc_strerror(s));
    GO_CHECK(peer.sin_family == AF_INET && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
             "peer is not 127.0.0.1");
    char b[2];
    GO_CHECK(goc_write(c, "hi", 2) == 2, "write");
    GO_CHECK(s >= 0 && read_full(s, b, 2) == 2, "read");
    goc_close(c);
    if (s >= 0)
        goc_close(s);
}

static int main_probe(void *arg)
{
    probe *p = arg;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen: %s", goc_strerror(lfd));
    if (lfd < 0) {
        p->rc = lfd;
        return 0;
    }
    dial_name(p, lfd);
    goc_close(lfd);
    return 0;
}

#define PROBE_CRASHED INT32_MIN
#define PROBE_VAR     "GOC_DNS_NSS_PROBE" /* "fd name": be a probe, answer on fd */

/* In a probe process, before Criterion's main: dial the name, write the
 * result to the fd, exit. */
__attribute__((constructor)) static void probe_hook(void)
{
    const char *e = getenv(PROBE_VAR);
    int fd, off = 0;
    if (!e || sscanf(e, "%d %n", &fd, &off) != 1 || off == 0)
        return;
    alarm(30); /* never outlive a hung test */
    probe p = {"tcp4", e + off, PROBE_CRASHED};
    goc_run(main_probe, &p);
    _exit(write(fd, &p.rc, sizeof p.rc) == sizeof p.rc ? 0 : 1);
}

/* The environment plus vars (NAME=value strings, n of them), replacing
 * any of the same names. Free the array (not the strings). */
static char **env_with(char **vars, int n)
{
    extern char **environ;
    int len = 0;
    while (environ[len])
        len++;
    char **envp = calloc((size_t)(len + n + 1), sizeof *envp);
    cr_assert_not_null(envp);
    int k = 0;
    for (int i = 0; i < len; i++) {
        bool replaced = false;
        for (int j = 0; j < n; j++)
            replaced |= strncmp(environ[i], vars[j], strcspn(vars[j], "=") + 1) == 0;
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (int j = 0; j < n; j++)
        envp[k++] = vars[j];
    return envp;
}

/* Dial name on "tcp4" in a process of its own, which reads conf (as
 * conf_file) and gives c-ares an empty hosts file: the dial's result, or
 * PROBE_CRASHED. */
static int probe_exec(const char *conf, const char *name)
{
    char self[4096], cpath[128], hpath[128], v[3][512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert(sl > 0);
    self[sl] = '\0';
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0); /* the probe inherits pfd[1] */
    snprintf(v[0], sizeof v[0], "GOC_NSSWITCH_CONF=%s", conf_file(cpath, sizeof cpath, conf));
    snprintf(v[1], sizeof v[1], "CARES_HOSTS=%s", tmp_file(hpath, sizeof hpath, "hosts", ""));
    snprintf(v[2], sizeof v[2], PROBE_VAR "=%d %s", pfd[1], name);
    char *vars[3] = {v[0], v[1], v[2]};
    char **envp = env_with(vars, 3);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        execve(self, (char *[]){self, NULL}, envp);
        _exit(127);
    }
    free(envp);
    close(pfd[1]);
    int rc = PROBE_CRASHED;
    if (read(pfd[0], &rc, sizeof rc) != sizeof rc)
        rc = PROBE_CRASHED;
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return rc;
}

/* The name the fallback tests resolve, once it is known that c-ares alone
 * does not find it and glibc does; otherwise the test is skipped. */
static void fallback_name(char *buf, size_t n)
{
    hosts_name(buf, n);
    if (!glibc_resolves(buf))
        cr_skip_test("getaddrinfo does not resolve \"%s\" (from /etc/hosts) here", buf);
    int off = probe_exec("hosts: files dns\n", buf);
    if (off == 0)
        cr_skip_test("c-ares resolves \"%s\" with an empty CARES_HOSTS (not honoured, or DNS "
                     "knows it): the fallback could not be told apart",
                     buf);
    if (off == GOC_ETEMPFAIL || off == -ETIMEDOUT)
        cr_skip_test("no DNS answer for \"%s\" (%s): the fallback only follows \"no such host\"",
                     buf, goc_strerror(off));
    cr_assert_eq(off, GOC_ENOTFOUND, "without the fallback: %d (%s)", off, goc_strerror(off));
}

/* ---- (a) the fallback finds what only NSS knows --------------------------------------- */

static int main_fallback(void *arg)
{
    const char *name = arg;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen: %s", goc_strerror(lfd));
    const char *nets[] = {"tcp", "tcp4"};
    for (int i = 0; i < 2 && lfd >= 0; i++) {
        probe p = {nets[i], name, 0};
        dial_name(&p, lfd);
        GO_CHECK(p.rc == 0, "goc_dial(%s, %s): %s", nets[i], name, goc_strerror(p.rc));
    }
    /* tcp6 asks for IPv6 only: never the IPv4 listener. */
    probe p6 = {"tcp6", name, 0};
    if (lfd >= 0)
        dial_name(&p6, lfd);
    GO_CHECK(p6.rc < 0, "tcp6 reached the IPv4 listener");
    goc_close(lfd);
    return 0;
}

Test(nss, fallback_finds_names_only_nss_knows, .timeout = 60)
{
    char name[256];
    fallback_name(name, sizeof name);
    /* A Debian desktop's line: mdns first, an action item, myhostname. */
    use_env("hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname\n", true);
    cr_assert_eq(run_main(main_fallback, name), 0);
}

/* ---- (b) files and dns only: c-ares alone, as before ------------------------------------ */

/* Not found, or no DNS answer in time: never a connection. */
static bool name_error(int r)
{
    return r == GOC_ENOTFOUND || r == GOC_ETEMPFAIL || r == -ETIMEDOUT;
}

static int main_unchanged(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    int r = goc_dial("tcp", "nonexistent.invalid:80", 5 * GOC_SECOND);
    GO_CHECK(name_error(r), "nonexistent.invalid: %d (%s)", r, goc_strerror(r));
    if (r >= 0)
        goc_close(r);
    GO_CHECK(since_ms(t0) < 15000, "resolution took %lld ms", (long long)since_ms(t0));
    /* The real hosts file still answers through c-ares. */
    probe p = {"tcp4", "localhost", 0};
    main_probe(&p);
    GO_CHECK(p.rc == 0, "localhost: %s", goc_strerror(p.rc));
    return 0;
}

Test(nss, files_dns_conf_changes_nothing, .timeout = 30)
{
    use_env("hosts:          files dns\n", false);
    cr_assert_eq(run_main(main_unchanged, NULL), 0);
}

/* ---- (c) a name nobody knows, fallback or not ---------------------------------------- */

static int main_unknown(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        int64_t t0 = goc_now();
        int r = goc_dial(i == 1 ? "tcp4" : "tcp", "nobody-knows-this.invalid:80", 5 * GOC_SECOND);
        GO_CHECK(name_error(r), "nobody-knows-this.invalid: %d (%s)", r, goc_strerror(r));
        if (r >= 0)
            goc_close(r);
        /* The dial's timeout bounds the fallback too. */
        GO_CHECK(since_ms(t0) < late_ms(5000), "resolution took %lld ms", (long long)since_ms(t0));
    }
    /* The fallback's helper goroutines end when getaddrinfo returns (if a
     * lost DNS packet made a dial give up first, glibc's own retry, 5 s
     * per try, may keep one a while). */
    int64_t deadline = goc_now() + 20 * GOC_SECOND;
    while (goc_numgoroutine() > 1 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_numgoroutine() == 1, "%zu goroutines left", goc_numgoroutine());
    return 0;
}

Test(nss, unknown_name_with_fallback_not_found, .timeout = 60)
{
    use_env("hosts: files nosuchmodule dns\n", false);
    cr_assert_eq(run_main(main_unknown, NULL), 0);
}

/* ---- (d) reading nsswitch.conf -------------------------------------------------------- */

static const struct {
    const char *conf; /* NULL: no such file */
    bool fallback;
} confs[] = {
    {"hosts: files dns\n", false},
    {"hosts: dns files\n", false},
    {"# hosts: files mdns\nhosts:\tfiles [NOTFOUND=return] dns # mdns4\n", false},
    {"passwd: files ldap\nhostsx: mdns\nhosts: files dns\n", false},
    {"passwd: files ldap\n", false}, /* no hosts line: glibc's default, dns files */
    {"", false},
    {NULL, false},
    {"hosts: files mdns4_minimal [NOTFOUND=return] dns\n", true},
    {"hosts: files dns myhostname\n", true},
    {"hosts:files[!UNAVAIL=return]resolve\n", true},
    {"  hosts :  files\tsss   # ldap\n", true},
    {"hosts: files dns\nhosts: files dns mdns\n", true}, /* any hosts line counts */
};

Test(nss, nsswitch_conf_parsing, .timeout = 120)
{
    char name[256];
    fallback_name(name, sizeof name);
    for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++) {
        int rc = probe_exec(confs[i].conf, name);
        const char *conf = confs[i].conf ? confs[i].conf : "(no file)";
        if (confs[i].fallback)
            cr_expect_eq(rc, 0, "%sdial %s: %d (%s), want the fallback to find it", conf, name, rc,
                         goc_strerror(rc));
        else
            cr_expect_eq(rc, GOC_ENOTFOUND, "%sdial %s: %d (%s), want no fallback", conf, name, rc,
                         goc_strerror(rc));
    }
}
