/* Logging: one line per event on stderr (journald adds the timestamp under systemd).
 * Every string that came from the network must pass through log_escape() first. */
#ifndef JFE_LOG_H
#define JFE_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *prog, int verbose);
int log_verbose(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_verbose() >= 2) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/* Logs <what> with the most recent OpenSSL error, then empties OpenSSL's error queue so a
 * stale error is never reported for a later, unrelated failure. */
void log_openssl(const char *what);

/* Copies <in> (length <len>) into <out> (size <outsz>, always NUL-terminated) with every byte
 * outside printable ASCII, and '\\' and '"', written as \xHH. Truncates with "..." if needed.
 * Returns <out>. */
char *log_escape(char *out, size_t outsz, const char *in, size_t len);

#endif
