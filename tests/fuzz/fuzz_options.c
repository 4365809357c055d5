/* libFuzzer target for the options file parser (agent/options.c): the input is written to a
 * memfd and read as `jfe run -f FILE`. Either it parses, or it fails cleanly; nothing leaks.
 * Seeds: tests/fuzz/corpus/options/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jfe_options o;
	char path[64];
	char *argv[] = { "run", "-f", path };
	int fd = memfd_create("jfe-fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* The parser reports its errors on stderr; that is its job, not noise to hide. */
	if (options_parse(&o, 3, argv) == 0)
		options_free(&o);
	close(fd);
	return 0;
}
