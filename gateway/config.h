/*
 * config.h — the value parsers config.c's schema walk uses, from
 * config_value.c (gw_parse_duration, public, is in gateway.h). Pure
 * functions: any thread, no allocation.
 */
#ifndef GOC_GATEWAY_CONFIG_H
#define GOC_GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* "64MiB", "10MB", "512 KiB", "1.5GiB", "1000": bytes into *out. 0, or
 * -EINVAL (not a size, a fraction of a byte, or past SIZE_MAX). */
int gw__parse_size(const char *s, size_t *out);

/* What is wrong with "host:port" s, or NULL. need_host: the host may not
 * be empty (":8080" is for listening); minport: 0 allows port 0 (listening
 * on a port the kernel picks). The text is static. */
const char *gw__addr_problem(const char *s, bool need_host, int minport);

/* Whether s is a non-empty HTTP token (RFC 9110 5.6.2). */
bool gw__is_token(const char *s);

/* Keeps in *best (and its distance in *bestd, SIZE_MAX to start) the
 * candidate cand if it is nearer to s than *best and near enough to be a
 * typo of it: at most 2 edits, and at most half of s. */
void gw__consider(const char *s, const char *cand, const char **best, size_t *bestd);

#endif /* GOC_GATEWAY_CONFIG_H */
