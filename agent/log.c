#include "agent/log.h"

#include <openssl/err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "jfe";
static int log_level_verbose;
static int log_to_journal;

int
log_journal_stream_is(const char *env, const struct stat *st)
{
	unsigned long long dev, ino;
	char *end;

	if (env == NULL || *env < '0' || *env > '9')
		return 0;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno || *end != '\0')
		return 0;
	return dev == (unsigned long long)st->st_dev && ino == (unsigned long long)st->st_ino;
}

void
log_init(const char *prog, int verbose)
{
	struct stat st;

	log_prog = prog;
	log_level_verbose = verbose;
	/* systemd names the stream it connected in JOURNAL_STREAM; stderr may since have been
	 * pointed elsewhere (a shell redirect in ExecStart=), hence the comparison. */
	log_to_journal = fstat(STDERR_FILENO, &st) == 0 &&
	    log_journal_stream_is(getenv("JOURNAL_STREAM"), &st);
}

int
log_verbose(void)
{
	return log_level_verbose;
}

size_t
log_prefix(char *buf, size_t len, int journal, enum log_level lvl, const char *prog,
    const struct timespec *ts)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	/* sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG */
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
	struct tm tm;
	int n;

	if ((unsigned)lvl > LOG_LVL_DEBUG)
		lvl = LOG_LVL_ERR;
	/* The journal stamps the time and the program itself, and takes the priority from the
	 * "<N>" prefix (journalctl -p); the level word stays for whoever reads the text. */
	if (journal)
		n = snprintf(buf, len, "%s%s: ", prio[lvl], names[lvl]);
	else {
		gmtime_r(&ts->tv_sec, &tm);
		n = snprintf(buf, len, "%02d:%02d:%02d.%03ld %s %s: ", tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts->tv_nsec / 1000000, prog, names[lvl]);
	}
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : (len ? len - 1 : 0);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	va_list ap;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = log_prefix(line, sizeof(line), log_to_journal, lvl, log_prog, &ts);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads never interleave. */
	fprintf(stderr, "%s\n", line);
}

void
log_openssl(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_err("%s: %s", what, buf);
	} else
		log_err("%s failed", what);
	ERR_clear_error();
}

char *
log_escape(char *out, size_t outsz, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (outsz == 0)
		return out;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') ? 4 : 1;

		if (o + need + 4 > outsz) {
			if (o + 4 <= outsz) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}
