/* Logging: one line per event on stderr, "HH:MM:SS.mmm jfe LEVEL: message" (UTC). When stderr
 * is the journal (JOURNAL_STREAM names it, as systemd sets it), "<N>LEVEL: message" instead:
 * journald takes the priority N from the prefix and adds the time and the program itself.
 * Every string that came from the network must pass through log_escape() first. */
#ifndef JFE_LOG_H
#define JFE_LOG_H

#include <stddef.h>
#include <time.h>

struct stat;

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Also decides, from JOURNAL_STREAM and stderr, whether lines carry journal priorities. */
void log_init(const char *prog, int verbose);
int log_verbose(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_verbose() >= 2) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/* For log_init() and the tests: whether <env> (JOURNAL_STREAM's "DEVICE:INODE", in decimal)
 * names the file <st> describes. */
int log_journal_stream_is(const char *env, const struct stat *st);
/* Writes a line's prefix (see above) into <buf> (size <len>, NUL-terminated); its length. */
size_t log_prefix(char *buf, size_t len, int journal, enum log_level lvl, const char *prog,
    const struct timespec *ts);

/* Logs <what> with the most recent OpenSSL error, then empties OpenSSL's error queue so a
 * stale error is never reported for a later, unrelated failure. */
void log_openssl(const char *what);

/* Copies <in> (length <len>) into <out> (size <outsz>, always NUL-terminated) with every byte
 * outside printable ASCII, and '\\' and '"', written as \xHH. Truncates with "..." if needed.
 * Returns <out>. */
char *log_escape(char *out, size_t outsz, const char *in, size_t len);

#endif
