#include "proxy/names.h"

#include <string.h>

static int
label_ok(const char *s, size_t n, int last)
{
	int all_digits = 1;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			continue;
		all_digits = 0;
		if (!((c >= 'a' && c <= 'z') || c == '-'))
			return 0;
	}
	/* A numeric top label is an IP literal or junk, never a public name. */
	return !(last && all_digits);
}

int
name_normalize(const char *in, size_t len, char *out, int allow_wildcard)
{
	size_t i, start = 0, labels = 0, off = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return -1;
	if (allow_wildcard && len > 2 && in[0] == '*' && in[1] == '.') {
		out[0] = '*';
		out[1] = '.';
		off = 2;
	}
	for (i = off; i < len; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	start = off;
	for (i = off; i <= len; i++) {
		if (i == len || out[i] == '.') {
			if (!label_ok(out + start, i - start, i == len))
				return -1;
			labels++;
			start = i + 1;
		}
	}
	return labels >= 2 ? 0 : -1;
}
