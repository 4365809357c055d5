/* Host names as they arrive in SNI: normalised and checked before anything is done with them. */
#ifndef JFE_NAMES_H
#define JFE_NAMES_H

#include <stddef.h>

#define NAME_MAX_LEN 253

/* Lower-cases <in> (length <len>) into <out> (NAME_MAX_LEN + 1 bytes) without a trailing dot.
 * Returns 0 for a syntactically valid DNS host name that could get a certificate: LDH labels
 * of 1..63 bytes not starting or ending with '-', at least two labels, total 1..253, a last
 * label that is not all digits (so no IPv4 literal), no IPv6 literal, no '_' or '*'.
 * Returns -1 otherwise. A leading "*." is accepted only with <allow_wildcard>. */
int name_normalize(const char *in, size_t len, char *out, int allow_wildcard);

#endif
