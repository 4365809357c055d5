/* Tests for agent/store.c: round trips, modes, names, locks across processes, crash safety
 * (kill -9 in the middle of saves), a full disk (a tiny tmpfs; needs root, skipped otherwise),
 * leftovers, symbolic links and size limits. Every case works in its own mkdtemp directory
 * under /tmp and removes it. */
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/log.h"
#include "agent/store.h"
#include "tests/unit/unit.h"

#define URL_A "https://acme-v02.api.letsencrypt.org/directory"
#define URL_B "https://acme-staging-v02.api.letsencrypt.org/directory"
#define CRASH_ROUNDS 50
#define CRASH_CHAIN (200 * 1024)

static char tmpdir[64];
static char storedir[128];

/* A fresh temporary directory; the store goes in <storedir> below it (store_fs_open creates
 * it). */
static void
tmp_make(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/jfe-store-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(storedir, sizeof(storedir), "%s/store", tmpdir);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		perror(path);
	return 0;
}

static void
tmp_remove(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "<storedir>/<rel>" in a static buffer (one at a time). */
static const char *
sp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
sp(const char *fmt, ...)
{
	static char buf[2][1100];
	static int which;
	char rel[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", storedir, rel);
	return buf[which];
}

static int
mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return -1;
	return (int)(st.st_mode & 07777);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Number of entries of <dir> whose names start with <prefix> ("" for all). */
static int
count_entries(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The name of the one "v-*" entry of <dir> in <out>, or -1 when there is not exactly one. */
static int
only_version(const char *dir, char *out, size_t outsz)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "v-", 2) == 0 && strlen(de->d_name) < outsz) {
			memcpy(out, de->d_name, strlen(de->d_name) + 1);
			n++;
		} else if (strncmp(de->d_name, "v-", 2) == 0)
			n += 2;
	closedir(d);
	return n == 1 ? 0 : -1;
}

static void
write_file(const char *path, const char *data, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd == -1 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void
sha256_hex(const char *a, const char *b, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, a, strlen(a));
	EVP_DigestUpdate(ctx, b, strlen(b));
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* Version <v> of a test unit: a "key", a chain of <chainlen> bytes, and metadata holding the
 * version and SHA-256(key || chain), so that a mixed unit is caught. */
struct unit {
	char key[128];
	char *chain;
	char meta[160];
};

static void
unit_make(struct unit *u, unsigned v, size_t chainlen)
{
	char hash[65];
	size_t i;
	int n;

	snprintf(u->key, sizeof(u->key),
	    "-----BEGIN PRIVATE KEY-----\nkey of version %u\n-----END PRIVATE KEY-----\n", v);
	u->chain = malloc(chainlen + 1);
	n = snprintf(u->chain, chainlen + 1, "-----BEGIN CERTIFICATE-----\nversion %u\n", v);
	for (i = (size_t)n; i < chainlen; i++)
		u->chain[i] = (char)('A' + (v + i / 64) % 26);
	u->chain[chainlen - 1] = '\n';
	u->chain[chainlen] = '\0';
	sha256_hex(u->key, u->chain, hash);
	snprintf(u->meta, sizeof(u->meta), "{\"version\":%u,\"sha256\":\"%s\"}", v, hash);
}

static void
unit_free(struct unit *u)
{
	free(u->chain);
	u->chain = NULL;
}

/* Loads <name> and checks it is a complete, consistent unit: returns its version, -2 when
 * absent, or -1. */
static long
unit_check(struct store *s, const char *name)
{
	char *key = NULL, *chain = NULL, *meta = NULL, hash[65], want[160];
	unsigned v;
	long rc = -1;
	int r;

	if ((r = store_cert_load(s, name, &key, &chain, &meta)) != 0) {
		rc = r == 1 ? -2 : -1;
		goto out;
	}
	if (sscanf(meta, "{\"version\":%u,", &v) != 1)
		goto out;
	sha256_hex(key, chain, hash);
	snprintf(want, sizeof(want), "{\"version\":%u,\"sha256\":\"%s\"}", v, hash);
	if (strcmp(meta, want) != 0 || strstr(key, "key of version ") == NULL ||
	    (unsigned)atoi(strstr(key, "key of version ") + 15) != v)
		goto out;
	rc = v;
out:
	store_secret_free(key);
	store_secret_free(chain);
	free(meta);
	return rc;
}

static void
test_account_roundtrip(void)
{
	struct store *s;
	char *key = NULL, *json = NULL;

	tmp_make();
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_account_load(s, URL_A, &key, &json) == 1);
	UNIT_CHECK(key == NULL && json == NULL);
	UNIT_CHECK(store_account_save(s, URL_A, "KEY-A1", "{\"url\":\"a1\"}") == 0);
	UNIT_CHECK(store_account_save(s, URL_B, "KEY-B1", "{\"url\":\"b1\"}") == 0);
	UNIT_CHECK(store_account_load(s, URL_A, &key, &json) == 0);
	UNIT_CHECK_STR(key, "KEY-A1");
	UNIT_CHECK_STR(json, "{\"url\":\"a1\"}");
	store_secret_free(key);
	free(json);
	UNIT_CHECK(store_account_save(s, URL_A, "KEY-A2", "{\"url\":\"a2\"}") == 0);
	UNIT_CHECK(store_account_load(s, URL_A, &key, &json) == 0);
	UNIT_CHECK_STR(key, "KEY-A2");
	UNIT_CHECK_STR(json, "{\"url\":\"a2\"}");
	store_secret_free(key);
	free(json);
	UNIT_CHECK(store_account_load(s, URL_B, &key, &json) == 0);
	UNIT_CHECK_STR(key, "KEY-B1");
	store_secret_free(key);
	free(json);
	/* Two accounts, one directory each; bad arguments refused. */
	UNIT_CHECK(count_entries(sp("account"), "") == 2);
	UNIT_CHECK(store_account_save(s, "", "K", "{}") == -1);
	UNIT_CHECK(store_account_save(s, URL_A, "", "{}") == -1);
	UNIT_CHECK(store_account_save(s, URL_A, NULL, "{}") == -1);
	UNIT_CHECK(store_account_load(s, NULL, &key, &json) == -1);
	store_close(s);
	/* And it survives a reopen. */
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_account_load(s, URL_A, &key, &json) == 0);
	UNIT_CHECK_STR(key, "KEY-A2");
	store_secret_free(key);
	free(json);
	store_close(s);
	tmp_remove();
}

static void
test_cert_roundtrip(void)
{
	struct store *s;
	struct unit u1, u2;
	char *key = NULL, *chain = NULL, *meta = NULL;

	tmp_make();
	unit_make(&u1, 1, 5000);
	unit_make(&u2, 2, 7000);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_cert_load(s, "www.example.com", &key, &chain, &meta) == 1);
	UNIT_CHECK(key == NULL && chain == NULL && meta == NULL);
	UNIT_CHECK(store_cert_save(s, "www.example.com", u1.key, u1.chain, u1.meta) == 0);
	UNIT_CHECK(store_cert_load(s, "www.example.com", &key, &chain, &meta) == 0);
	UNIT_CHECK_STR(key, u1.key);
	UNIT_CHECK_STR(chain, u1.chain);
	UNIT_CHECK_STR(meta, u1.meta);
	store_secret_free(key);
	free(chain);
	free(meta);
	UNIT_CHECK(store_cert_save(s, "www.example.com", u2.key, u2.chain, u2.meta) == 0);
	UNIT_CHECK(unit_check(s, "www.example.com") == 2);
	/* The old version is gone; only `current` and the new version are left. */
	UNIT_CHECK(count_entries(sp("certs/www.example.com"), "") == 2);
	UNIT_CHECK(count_entries(sp("certs/www.example.com"), "v-") == 1);
	/* Wildcards live in "_wildcard.<rest>" and do not collide with the plain name. */
	UNIT_CHECK(store_cert_save(s, "*.example.com", u1.key, u1.chain, u1.meta) == 0);
	UNIT_CHECK(exists(sp("certs/_wildcard.example.com/current")));
	UNIT_CHECK(unit_check(s, "*.example.com") == 1);
	UNIT_CHECK(unit_check(s, "www.example.com") == 2);
	UNIT_CHECK(store_cert_save(s, "x.example", "", u1.chain, u1.meta) == -1);
	UNIT_CHECK(store_cert_save(s, "x.example", u1.key, NULL, u1.meta) == -1);
	UNIT_CHECK(!exists(sp("certs/x.example")));
	store_close(s);
	unit_free(&u1);
	unit_free(&u2);
	tmp_remove();
}

static void
test_permissions(void)
{
	struct store *s;
	struct unit u;
	char v[64];
	mode_t old = umask(0);

	tmp_make();
	unit_make(&u, 1, 100);
	/* umask 0 and 077: the modes must not depend on it. */
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_cert_save(s, "a.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_account_save(s, URL_A, "KEY", "{}") == 0);
	umask(077);
	UNIT_CHECK(store_state_save(s, "budget", "{}") == 0);
	UNIT_CHECK(store_cert_save(s, "b.example", u.key, u.chain, u.meta) == 0);
	umask(old);

	UNIT_CHECK(mode_of(storedir) == 0700);
	UNIT_CHECK(mode_of(sp("account")) == 0700);
	UNIT_CHECK(mode_of(sp("certs")) == 0700);
	UNIT_CHECK(mode_of(sp("state")) == 0700);
	UNIT_CHECK(mode_of(sp("locks")) == 0700);
	UNIT_CHECK(mode_of(sp("certs/a.example")) == 0700);
	UNIT_CHECK(only_version(sp("certs/a.example"), v, sizeof(v)) == 0);
	UNIT_CHECK(mode_of(sp("certs/a.example/%s", v)) == 0700);
	UNIT_CHECK(mode_of(sp("certs/a.example/%s/key.pem", v)) == 0600);
	UNIT_CHECK(mode_of(sp("certs/a.example/%s/fullchain.pem", v)) == 0644);
	UNIT_CHECK(mode_of(sp("certs/a.example/%s/meta.json", v)) == 0644);
	UNIT_CHECK(only_version(sp("certs/b.example"), v, sizeof(v)) == 0);
	UNIT_CHECK(mode_of(sp("certs/b.example/%s/fullchain.pem", v)) == 0644);
	UNIT_CHECK(mode_of(sp("state/budget.json")) == 0644);
	{
		struct dirent *de;
		DIR *d = opendir(sp("account"));
		char acc[300];
		int n = 0;

		while (d != NULL && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(acc, sizeof(acc), "account/%s", de->d_name);
			UNIT_CHECK(strlen(de->d_name) == 16);
			UNIT_CHECK(mode_of(sp("%s", acc)) == 0700);
			UNIT_CHECK(only_version(sp("%s", acc), v, sizeof(v)) == 0);
			UNIT_CHECK(mode_of(sp("%s/%s", acc, v)) == 0700);
			UNIT_CHECK(mode_of(sp("%s/%s/key.pem", acc, v)) == 0600);
			UNIT_CHECK(mode_of(sp("%s/%s/account.json", acc, v)) == 0600);
			UNIT_CHECK(mode_of(sp("%s/%s/directory_url", acc, v)) == 0600);
			n++;
		}
		if (d != NULL)
			closedir(d);
		UNIT_CHECK(n == 1);
	}
	store_close(s);

	/* A root others can write to, or someone else's, is refused. */
	UNIT_CHECK(chmod(storedir, 0777) == 0);
	UNIT_CHECK((s = store_fs_open(storedir)) == NULL);
	UNIT_CHECK(chmod(storedir, 0700) == 0);
	if (geteuid() == 0) {
		UNIT_CHECK(chown(storedir, 65534, 65534) == 0);
		UNIT_CHECK((s = store_fs_open(storedir)) == NULL);
		UNIT_CHECK(chown(storedir, 0, 0) == 0);
	}
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	store_close(s);
	/* A missing parent is an error, not a mkdir -p. */
	UNIT_CHECK(store_fs_open(sp("no/such/dir")) == NULL);
	unit_free(&u);
	tmp_remove();
}

static void
test_list_remove(void)
{
	static const char *const want[] = { "*.example.org", "a.example", "b.example", "z.test" };
	struct store *s;
	struct unit u;
	char **names = NULL, *k, *c, *m;
	size_t n = 99, i;

	tmp_make();
	unit_make(&u, 1, 100);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_cert_list(s, &names, &n) == 0);
	UNIT_CHECK(n == 0);
	store_names_free(names, n);
	UNIT_CHECK(store_cert_save(s, "z.test", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_cert_save(s, "b.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_cert_save(s, "*.example.org", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_cert_save(s, "a.example", u.key, u.chain, u.meta) == 0);
	/* Not listed: a unit directory without `current`, and a directory that is not ours. */
	UNIT_CHECK(mkdir(sp("certs/half.example"), 0700) == 0);
	UNIT_CHECK(mkdir(sp("certs/NotOurs"), 0700) == 0);
	UNIT_CHECK(store_cert_list(s, &names, &n) == 0);
	UNIT_CHECK(n == 4);
	for (i = 0; i < n && i < 4; i++)
		UNIT_CHECK_STR(names[i], want[i]);
	store_names_free(names, n);

	UNIT_CHECK(store_cert_remove(s, "b.example") == 0);
	UNIT_CHECK(!exists(sp("certs/b.example")));
	UNIT_CHECK(store_cert_load(s, "b.example", &k, &c, &m) == 1);
	UNIT_CHECK(store_cert_remove(s, "b.example") == 1);
	UNIT_CHECK(store_cert_remove(s, "never.example") == 1);
	UNIT_CHECK(store_cert_remove(s, "*.example.org") == 0);
	UNIT_CHECK(store_cert_list(s, &names, &n) == 0);
	UNIT_CHECK(n == 2);
	if (n == 2) {
		UNIT_CHECK_STR(names[0], "a.example");
		UNIT_CHECK_STR(names[1], "z.test");
	}
	store_names_free(names, n);
	/* Saving again after a removal works. */
	UNIT_CHECK(store_cert_save(s, "b.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(unit_check(s, "b.example") == 1);
	store_close(s);
	unit_free(&u);
	tmp_remove();
}

static void
test_names(void)
{
	char n253[300], n254[300], wild_long[300], label64[80];
	const char *bad[] = {
		"../x", "a/b", "..", ".", "", "WWW.example.com", "www.Example.com", "a..b", ".a",
		"a.", "-a.example", "a-.example", "a_b.example", "*", "*.", "**.a", "a.*.b",
		"*a.example", "a b", "a\nb", "é.example", "*.*.a", "/etc/passwd", "a\\b", NULL,
		n254, wild_long, label64,
	};
	struct store *s;
	struct store_lock *l;
	struct unit u;
	char *k, *c, *m;
	size_t i;
	int locks;

	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(n253, 'a', 253);
	n253[63] = n253[127] = n253[191] = '.';
	n253[253] = '\0';
	memcpy(n254, n253, 254);
	n254[252] = 'b';
	n254[253] = 'c';
	n254[254] = '\0';
	/* "*." + 247: valid DNS, but "_wildcard." + 247 exceeds NAME_MAX (documented). */
	snprintf(wild_long, sizeof(wild_long), "*.%s", n253 + 6);
	memset(label64, 'x', 64);
	memcpy(label64 + 64, ".example", 9);

	tmp_make();
	unit_make(&u, 1, 100);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	locks = count_entries(sp("locks"), "");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (store_name_ok(bad[i]))
			fprintf(stderr, "accepted bad name #%zu\n", i);
		UNIT_CHECK(!store_name_ok(bad[i]));
		UNIT_CHECK(store_cert_save(s, bad[i], u.key, u.chain, u.meta) == -1);
		UNIT_CHECK(store_cert_load(s, bad[i], &k, &c, &m) == -1);
		UNIT_CHECK(store_cert_remove(s, bad[i]) == -1);
		UNIT_CHECK(store_lock(s, bad[i], &l) == -1);
	}
	/* Nothing reached the filesystem: no unit directory, no lock file, nothing outside. */
	UNIT_CHECK(count_entries(sp("certs"), "") == 0);
	UNIT_CHECK(count_entries(sp("locks"), "") == locks);
	UNIT_CHECK(count_entries(tmpdir, "") == 1);

	UNIT_CHECK(strlen(n253) == 253 && store_name_ok(n253));
	UNIT_CHECK(store_cert_save(s, n253, u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(unit_check(s, n253) == 1);
	UNIT_CHECK(store_cert_save(s, "*.a", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(unit_check(s, "*.a") == 1);
	UNIT_CHECK(exists(sp("certs/_wildcard.a/current")));
	UNIT_CHECK(store_name_ok("xn--bcher-kva.example") && store_name_ok("a-b.c0"));
	UNIT_CHECK(store_name_ok("localhost"));
	UNIT_CHECK(store_lock(s, n253, &l) == 0);
	store_unlock(l);

	/* State keys: [a-z0-9_-]{1,64}. */
	UNIT_CHECK(store_state_save(s, "../x", "{}") == -1);
	UNIT_CHECK(store_state_save(s, "A", "{}") == -1);
	UNIT_CHECK(store_state_save(s, "", "{}") == -1);
	UNIT_CHECK(store_state_save(s, "a.b", "{}") == -1);
	UNIT_CHECK(store_state_load(s, "a/b", &k) == -1);
	UNIT_CHECK(count_entries(sp("state"), "") == 0);
	store_close(s);
	unit_free(&u);
	tmp_remove();
}

static char
pipe_get(int fd)
{
	char c = 0;

	if (read(fd, &c, 1) != 1)
		return 0;
	return c;
}

static void
pipe_put(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		perror("pipe write");
}

/* A child answering 'T' (try the lock on "lock.example", release at once) with the result
 * ('0' + r), until 'Q'. */
static void
lock_tryer(struct store *s, int in, int out)
{
	struct store_lock *l;
	char cmd;
	int r;

	while ((cmd = pipe_get(in)) == 'T') {
		r = store_lock(s, "lock.example", &l);
		if (r == 0)
			store_unlock(l);
		pipe_put(out, (char)('0' + (r + 1)));
	}
	_exit(0);
}

static void
test_lock(void)
{
	struct store *s;
	struct store_lock *l = NULL, *l2 = NULL, *l3 = NULL;
	int p2c[2], c2p[2], st;
	pid_t pid;

	tmp_make();
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_lock(s, "lock.example", &l) == 0 && l != NULL);
	/* Twice in one process conflicts too; another name does not. */
	UNIT_CHECK(store_lock(s, "lock.example", &l2) == 1 && l2 == NULL);
	UNIT_CHECK(store_lock(s, "other.example", &l3) == 0);
	UNIT_CHECK(count_entries(sp("locks"), "issue-") == 2);
	store_unlock(l3);
	/* Lock files exist only while held. */
	UNIT_CHECK(count_entries(sp("locks"), "issue-") == 1);

	/* Forked while the lock is held: the child shares the parent's lock file description,
	 * yet its own store_lock() conflicts, and the parent's unlock frees it for both. */
	UNIT_CHECK(pipe(p2c) == 0 && pipe(c2p) == 0);
	if ((pid = fork()) == 0)
		lock_tryer(s, p2c[0], c2p[1]);
	pipe_put(p2c[1], 'T');
	UNIT_CHECK(pipe_get(c2p[0]) == '0' + 2);	/* 1: held elsewhere */
	store_unlock(l);
	pipe_put(p2c[1], 'T');
	UNIT_CHECK(pipe_get(c2p[0]) == '0' + 1);	/* 0: acquired */
	UNIT_CHECK(count_entries(sp("locks"), "issue-") == 0);
	pipe_put(p2c[1], 'Q');
	UNIT_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);

	/* A holder that dies (kill -9, no unlock) releases the lock. */
	UNIT_CHECK(pipe(c2p) == 0);
	if ((pid = fork()) == 0) {
		struct store_lock *cl;

		pipe_put(c2p[1], store_lock(s, "lock.example", &cl) == 0 ? 'L' : 'E');
		for (;;)
			pause();
	}
	UNIT_CHECK(pipe_get(c2p[0]) == 'L');
	UNIT_CHECK(store_lock(s, "lock.example", &l) == 1);
	kill(pid, SIGKILL);
	UNIT_CHECK(waitpid(pid, &st, 0) == pid);
	/* The dead holder's lock file stays until the next open sweeps it. */
	UNIT_CHECK(count_entries(sp("locks"), "issue-") == 1);
	{
		struct store *fresh = store_fs_open(storedir);

		UNIT_CHECK(fresh != NULL);
		store_close(fresh);
	}
	UNIT_CHECK(count_entries(sp("locks"), "issue-") == 0);
	UNIT_CHECK(store_lock(s, "lock.example", &l) == 0);
	store_unlock(l);
	close(c2p[0]);
	close(c2p[1]);

	/* A holder that exits without unlocking, too. */
	UNIT_CHECK(pipe(c2p) == 0 && pipe(p2c) == 0);
	if ((pid = fork()) == 0) {
		struct store_lock *cl;

		pipe_put(c2p[1], store_lock(s, "lock.example", &cl) == 0 ? 'L' : 'E');
		pipe_get(p2c[0]);
		_exit(0);
	}
	UNIT_CHECK(pipe_get(c2p[0]) == 'L');
	UNIT_CHECK(store_lock(s, "lock.example", &l) == 1);
	pipe_put(p2c[1], 'X');
	UNIT_CHECK(waitpid(pid, &st, 0) == pid);
	UNIT_CHECK(store_lock(s, "lock.example", &l) == 0);
	store_unlock(l);
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);
	store_close(s);
	tmp_remove();
}

/* Whether the unit directory <dir> holds `current` and exactly the version it names, and
 * nothing else (what a fresh open's cleanup must leave). */
static int
unit_clean_ok(const char *dir)
{
	char v[64], link[64], path[1100];
	ssize_t n;

	if (count_entries(dir, "") != 2 || only_version(dir, v, sizeof(v)) == -1)
		return 0;
	snprintf(path, sizeof(path), "%s/current", dir);
	if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
		return 0;
	link[n] = '\0';
	return strcmp(link, v) == 0;
}

static void
test_crash(void)
{
	struct store *s, *fresh;
	struct unit next;
	unsigned cur = 0, seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int i, st, olds = 0, news = 0, leftovers = 0;
	long v;
	pid_t pid;

	tmp_make();
	fprintf(stderr, "test_crash: seed %u\n", seed);
	srand(seed);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	unit_make(&next, 0, CRASH_CHAIN);
	UNIT_CHECK(store_cert_save(s, "crash.example", next.key, next.chain, next.meta) == 0);
	unit_free(&next);
	for (i = 0; i < CRASH_ROUNDS; i++) {
		/* Built before the fork, so that the kill lands inside the save. */
		unit_make(&next, cur + 1, CRASH_CHAIN);
		if ((pid = fork()) == 0) {
			store_cert_save(s, "crash.example", next.key, next.chain, next.meta);
			_exit(0);
		}
		usleep((useconds_t)(rand() % 5001));
		kill(pid, SIGKILL);
		UNIT_CHECK(waitpid(pid, &st, 0) == pid);
		unit_free(&next);

		v = unit_check(s, "crash.example");
		UNIT_CHECK(v == (long)cur || v == (long)cur + 1);
		if (v == (long)cur)
			olds++;
		else if (v == (long)cur + 1)
			news++;
		else {
			fprintf(stderr, "round %d: got %ld, want %u or %u\n", i, v, cur, cur + 1);
			break;
		}
		if (!unit_clean_ok(sp("certs/crash.example")))
			leftovers++;
		/* A fresh open (a restart) cleans whatever the kill left behind. */
		UNIT_CHECK((fresh = store_fs_open(storedir)) != NULL);
		UNIT_CHECK(unit_clean_ok(sp("certs/crash.example")));
		UNIT_CHECK(unit_check(fresh, "crash.example") == v);
		store_close(fresh);
		cur = (unsigned)v;
	}
	fprintf(stderr, "test_crash: %d rounds: %d kept the old unit, %d the new one, %d left "
	    "leftovers\n", i, olds, news, leftovers);
	store_close(s);
	tmp_remove();
}

/* Readers never see a missing or mixed unit while another process saves and prunes. */
static void
test_concurrent_load(void)
{
	struct store *s;
	struct unit u;
	int st, loads = 0, bad = 0;
	unsigned i;
	pid_t pid;

	tmp_make();
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	unit_make(&u, 0, 20000);
	UNIT_CHECK(store_cert_save(s, "race.example", u.key, u.chain, u.meta) == 0);
	unit_free(&u);
	if ((pid = fork()) == 0) {
		for (i = 1; i <= 40; i++) {
			unit_make(&u, i, 20000);
			if (store_cert_save(s, "race.example", u.key, u.chain, u.meta) != 0)
				_exit(1);
			unit_free(&u);
		}
		store_close(s);         /* the child's copy: valgrind checks its leaks too */
		_exit(0);
	}
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (unit_check(s, "race.example") < 0)
			bad++;
		loads++;
	}
	UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	UNIT_CHECK(bad == 0);
	UNIT_CHECK(unit_check(s, "race.example") == 40);
	fprintf(stderr, "test_concurrent_load: %d loads during 40 saves, %d bad\n", loads, bad);
	store_close(s);
	tmp_remove();
}

/* Several processes saving one name at once: the saves are serialized (each prunes only
 * after its own switch), so the unit stays complete and nothing is left over. */
static void
test_concurrent_save(void)
{
	struct store *s;
	struct unit u;
	pid_t pids[3];
	int k, i, st, bad = 0, seen = 0;
	long v;

	tmp_make();
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	for (k = 0; k < 3; k++)
		if ((pids[k] = fork()) == 0) {
			for (i = 1; i <= 15; i++) {
				unit_make(&u, (unsigned)(100 * (k + 1) + i), 10000);
				if (store_cert_save(s, "same.example", u.key, u.chain, u.meta) != 0)
					_exit(1);
				unit_free(&u);
			}
			store_close(s);
			_exit(0);
		}
	for (k = 0; k < 3; k++) {
		while (waitpid(pids[k], &st, WNOHANG) == 0) {
			/* Absent until the first save lands, then always complete. */
			v = unit_check(s, "same.example");
			if (v >= 0)
				seen = 1;
			else if (v == -1 || seen)
				bad++;
		}
		UNIT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	UNIT_CHECK(bad == 0);
	v = unit_check(s, "same.example");
	UNIT_CHECK(v == 115 || v == 215 || v == 315);
	UNIT_CHECK(unit_clean_ok(sp("certs/same.example")));
	UNIT_CHECK(count_entries(sp("locks"), "write-") == 0);
	store_close(s);
	tmp_remove();
}

/* The hash-named lock file a writer of <unit> ("certs/<dir>") holds: white-box knowledge of
 * store.c, to play a concurrent writer. */
static int
writer_lock_open(const char *unit)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	char name[80];
	unsigned int len;
	int i;

	EVP_Digest(unit, strlen(unit), md, &len, EVP_sha256(), NULL);
	memcpy(name, "write-", 6);
	for (i = 0; i < 16; i++) {
		name[6 + 2 * i] = hex[md[i] >> 4];
		name[6 + 2 * i + 1] = hex[md[i] & 15];
	}
	memcpy(name + 38, ".lock", 6);
	return open(sp("locks/%s", name), O_RDWR | O_CREAT, 0600);
}

static void
test_leftovers(void)
{
	struct store *s;
	struct unit u;
	char v[64], *json;
	int st;
	pid_t pid;
	int p[2];

	tmp_make();
	unit_make(&u, 1, 1000);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_cert_save(s, "left.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_cert_save(s, "busy.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(store_state_save(s, "keep", "{\"a\":1}") == 0);
	store_close(s);

	/* What a crash can leave: a half-written version, a temporary link, a unit whose first
	 * save never finished, a state temp file, an account that never got `current`. */
	UNIT_CHECK(mkdir(sp("certs/left.example/v-00000000000000aa"), 0700) == 0);
	write_file(sp("certs/left.example/v-00000000000000aa/key.pem"), "partial", 7, 0600);
	UNIT_CHECK(symlink("v-00000000000000aa", sp("certs/left.example/.tmp-00000000000000bb")) ==
	    0);
	UNIT_CHECK(mkdir(sp("certs/half.example"), 0700) == 0);
	UNIT_CHECK(mkdir(sp("certs/half.example/v-00000000000000cc"), 0700) == 0);
	write_file(sp("certs/half.example/v-00000000000000cc/fullchain.pem"), "x", 1, 0644);
	write_file(sp("state/.tmp-0000000000000001"), "{", 1, 0644);
	UNIT_CHECK(mkdir(sp("account/0123456789abcdef"), 0700) == 0);
	UNIT_CHECK(mkdir(sp("account/0123456789abcdef/v-00000000000000dd"), 0700) == 0);
	/* Not ours: left alone. */
	UNIT_CHECK(mkdir(sp("certs/Foreign"), 0700) == 0);
	write_file(sp("certs/Foreign/v-00000000000000ee"), "x", 1, 0644);
	/* busy.example is being written by "another process": its leftovers must stay. */
	UNIT_CHECK(mkdir(sp("certs/busy.example/v-00000000000000ff"), 0700) == 0);
	UNIT_CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		int lfd = writer_lock_open("certs/busy.example");

		pipe_put(p[1], lfd != -1 && flock(lfd, LOCK_EX) == 0 ? 'L' : 'E');
		for (;;)
			pause();
	}
	UNIT_CHECK(pipe_get(p[0]) == 'L');

	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(unit_clean_ok(sp("certs/left.example")));
	UNIT_CHECK(unit_check(s, "left.example") == 1);
	UNIT_CHECK(!exists(sp("certs/half.example")));
	UNIT_CHECK(count_entries(sp("state"), ".tmp-") == 0);
	UNIT_CHECK(store_state_load(s, "keep", &json) == 0);
	UNIT_CHECK_STR(json, "{\"a\":1}");
	free(json);
	UNIT_CHECK(!exists(sp("account/0123456789abcdef")));
	UNIT_CHECK(exists(sp("certs/Foreign/v-00000000000000ee")));
	UNIT_CHECK(exists(sp("certs/busy.example/v-00000000000000ff")));
	store_close(s);

	kill(pid, SIGKILL);
	UNIT_CHECK(waitpid(pid, &st, 0) == pid);
	close(p[0]);
	close(p[1]);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(!exists(sp("certs/busy.example/v-00000000000000ff")));
	UNIT_CHECK(unit_clean_ok(sp("certs/busy.example")));
	UNIT_CHECK(unit_check(s, "busy.example") == 1);
	store_close(s);

	/* A `current` that names a missing version: -1, and the cleanup leaves it for a human. */
	UNIT_CHECK(only_version(sp("certs/left.example"), v, sizeof(v)) == 0);
	UNIT_CHECK(rename(sp("certs/left.example/%s", v),
	    sp("certs/left.example/v-0000000000000001")) == 0);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(unit_check(s, "left.example") == -1);
	store_close(s);
	unit_free(&u);
	tmp_remove();
}

static void
test_symlinks(void)
{
	struct store *s;
	struct unit u;
	char v[64], *k, *c, *m, *json;

	tmp_make();
	unit_make(&u, 1, 100);
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	write_file(sp("../outside.pem"), "SECRET OUTSIDE\n", 15, 0600);

	/* `current` aimed outside, or at anything but a plain version name. */
	UNIT_CHECK(store_cert_save(s, "l.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(only_version(sp("certs/l.example"), v, sizeof(v)) == 0);
	UNIT_CHECK(unlink(sp("certs/l.example/current")) == 0);
	UNIT_CHECK(symlink("../../../..", sp("certs/l.example/current")) == 0);
	UNIT_CHECK(store_cert_load(s, "l.example", &k, &c, &m) == -1);
	UNIT_CHECK(k == NULL && c == NULL && m == NULL);
	UNIT_CHECK(unlink(sp("certs/l.example/current")) == 0);
	UNIT_CHECK(symlink(sp("certs/l.example/%s", v), sp("certs/l.example/current")) == 0);
	UNIT_CHECK(store_cert_load(s, "l.example", &k, &c, &m) == -1);
	/* `current` as a plain file rather than a link. */
	UNIT_CHECK(unlink(sp("certs/l.example/current")) == 0);
	write_file(sp("certs/l.example/current"), v, strlen(v), 0644);
	UNIT_CHECK(store_cert_load(s, "l.example", &k, &c, &m) == -1);
	/* A version directory that is itself a link. */
	UNIT_CHECK(unlink(sp("certs/l.example/current")) == 0);
	UNIT_CHECK(symlink(tmpdir, sp("certs/l.example/v-1111111111111111")) == 0);
	UNIT_CHECK(symlink("v-1111111111111111", sp("certs/l.example/current")) == 0);
	UNIT_CHECK(store_cert_load(s, "l.example", &k, &c, &m) == -1);
	/* A key file that is a link out of the store. */
	UNIT_CHECK(unlink(sp("certs/l.example/current")) == 0);
	UNIT_CHECK(symlink(v, sp("certs/l.example/current")) == 0);
	UNIT_CHECK(unit_check(s, "l.example") == 1);
	UNIT_CHECK(unlink(sp("certs/l.example/%s/key.pem", v)) == 0);
	UNIT_CHECK(symlink(sp("../outside.pem"), sp("certs/l.example/%s/key.pem", v)) == 0);
	UNIT_CHECK(store_cert_load(s, "l.example", &k, &c, &m) == -1);
	UNIT_CHECK(k == NULL);

	/* A unit directory that is a link to a (valid-looking) unit elsewhere. */
	UNIT_CHECK(store_cert_save(s, "real.example", u.key, u.chain, u.meta) == 0);
	UNIT_CHECK(symlink(sp("certs/real.example"), sp("certs/evil.example")) == 0);
	UNIT_CHECK(store_cert_load(s, "evil.example", &k, &c, &m) == -1);

	/* State: a blob that is a link is not read, and a save replaces the link itself. */
	UNIT_CHECK(symlink(sp("../outside.pem"), sp("state/x.json")) == 0);
	UNIT_CHECK(store_state_load(s, "x", &json) == -1);
	UNIT_CHECK(store_state_save(s, "x", "{}") == 0);
	UNIT_CHECK(store_state_load(s, "x", &json) == 0);
	UNIT_CHECK_STR(json, "{}");
	free(json);
	{
		char buf[64] = "";
		FILE *f = fopen(sp("../outside.pem"), "r");

		UNIT_CHECK(f != NULL && fgets(buf, sizeof(buf), f) != NULL);
		UNIT_CHECK_STR(buf, "SECRET OUTSIDE\n");
		if (f != NULL)
			fclose(f);
	}
	/* A FIFO does not hang a load. */
	UNIT_CHECK(mkfifo(sp("state/fifo.json"), 0600) == 0);
	UNIT_CHECK(store_state_load(s, "fifo", &json) == -1);
	store_close(s);
	unit_free(&u);
	tmp_remove();
}

static void
test_state_and_limits(void)
{
	struct store *s;
	char *json = NULL, *big;

	tmp_make();
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	UNIT_CHECK(store_state_load(s, "budget", &json) == 1 && json == NULL);
	UNIT_CHECK(store_state_save(s, "budget", "{\"orders\":3}") == 0);
	UNIT_CHECK(store_state_save(s, "backoff_www-1", "{\"until\":1700000000}") == 0);
	UNIT_CHECK(store_state_load(s, "budget", &json) == 0);
	UNIT_CHECK_STR(json, "{\"orders\":3}");
	free(json);
	UNIT_CHECK(store_state_save(s, "budget", "{\"orders\":4}") == 0);
	UNIT_CHECK(store_state_load(s, "budget", &json) == 0);
	UNIT_CHECK_STR(json, "{\"orders\":4}");
	free(json);
	UNIT_CHECK(store_state_load(s, "backoff_www-1", &json) == 0);
	UNIT_CHECK_STR(json, "{\"until\":1700000000}");
	free(json);
	UNIT_CHECK(count_entries(sp("state"), ".tmp-") == 0);

	/* Exactly the limit works; one byte more is refused on save and on load. */
	big = malloc(STORE_MAX_FILE + 2);
	memset(big, 'x', STORE_MAX_FILE + 1);
	big[STORE_MAX_FILE] = '\0';
	UNIT_CHECK(store_state_save(s, "big", big) == 0);
	UNIT_CHECK(store_state_load(s, "big", &json) == 0);
	UNIT_CHECK(json != NULL && strlen(json) == STORE_MAX_FILE);
	free(json);
	big[STORE_MAX_FILE] = 'x';
	big[STORE_MAX_FILE + 1] = '\0';
	UNIT_CHECK(store_state_save(s, "big", big) == -1);
	UNIT_CHECK(store_cert_save(s, "big.example", "K", big, "{}") == -1);
	write_file(sp("state/huge.json"), big, STORE_MAX_FILE + 1, 0644);
	UNIT_CHECK(store_state_load(s, "huge", &json) == -1 && json == NULL);
	free(big);
	/* A NUL byte inside would silently truncate the string: refused. */
	write_file(sp("state/nul.json"), "{\"a\0\":1}", 8, 0644);
	UNIT_CHECK(store_state_load(s, "nul", &json) == -1);
	store_close(s);
	tmp_remove();
}

static void
test_enospc(void)
{
	struct store *s;
	struct unit u;
	char key[32], *json, v[64];
	unsigned i, last = 0;
	int r = 0, n;

	tmp_make();
	if (mount("tmpfs", tmpdir, "tmpfs", 0, "size=256k,mode=0700") == -1) {
		fprintf(stderr, "test_enospc: skipped, cannot mount a tmpfs: %s\n",
		    strerror(errno));
		tmp_remove();
		return;
	}
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	/* Growing chains: a save needs room for the old and the new version at once. */
	for (i = 1; i < 20; i++) {
		unit_make(&u, i, 24 * 1024 * i);
		r = store_cert_save(s, "full.example", u.key, u.chain, u.meta);
		unit_free(&u);
		if (r != 0)
			break;
		last = i;
	}
	UNIT_CHECK(r == -1 && last >= 1);
	UNIT_CHECK(unit_check(s, "full.example") == (long)last);
	/* The failed version was removed: `current` and the old version only. */
	UNIT_CHECK(unit_clean_ok(sp("certs/full.example")));
	UNIT_CHECK(only_version(sp("certs/full.example"), v, sizeof(v)) == 0);

	/* A first save that fails leaves nothing at all. */
	unit_make(&u, 1, 200 * 1024);
	UNIT_CHECK(store_cert_save(s, "new.example", u.key, u.chain, u.meta) == -1);
	unit_free(&u);
	UNIT_CHECK(!exists(sp("certs/new.example")));

	/* State blobs until the disk is full. */
	for (n = 0; n < 64; n++) {
		char blob[8193];

		memset(blob, '0' + n % 10, sizeof(blob) - 1);
		blob[sizeof(blob) - 1] = '\0';
		snprintf(key, sizeof(key), "fill%d", n);
		if ((r = store_state_save(s, key, blob)) != 0)
			break;
	}
	UNIT_CHECK(r == -1 && n > 0);
	UNIT_CHECK(count_entries(sp("state"), ".tmp-") == 0);
	UNIT_CHECK(store_state_load(s, "fill0", &json) == 0);
	UNIT_CHECK(json != NULL && strlen(json) == 8192 && json[0] == '0');
	free(json);
	/* Replacing a blob with one that does not fit keeps the old one. */
	{
		char *blob = malloc(200 * 1024);

		memset(blob, 'z', 200 * 1024 - 1);
		blob[200 * 1024 - 1] = '\0';
		UNIT_CHECK(store_state_save(s, "fill0", blob) == -1);
		free(blob);
	}
	UNIT_CHECK(store_state_load(s, "fill0", &json) == 0);
	UNIT_CHECK(json != NULL && json[0] == '0');
	free(json);
	UNIT_CHECK(unit_check(s, "full.example") == (long)last);

	/* Nothing leaked: after freeing the blobs a save fits again. */
	store_close(s);
	for (i = 0; i < (unsigned)n; i++)
		unlink(sp("state/fill%u.json", i));
	UNIT_CHECK((s = store_fs_open(storedir)) != NULL);
	unit_make(&u, last + 1, 24 * 1024);
	UNIT_CHECK(store_cert_save(s, "full.example", u.key, u.chain, u.meta) == 0);
	unit_free(&u);
	UNIT_CHECK(unit_check(s, "full.example") == (long)last + 1);
	store_close(s);
	if (umount(tmpdir) == -1)
		perror("umount");
	tmp_remove();
}

int
main(void)
{
	log_init("test_store", 0);
	UNIT_RUN(test_account_roundtrip);
	UNIT_RUN(test_cert_roundtrip);
	UNIT_RUN(test_permissions);
	UNIT_RUN(test_list_remove);
	UNIT_RUN(test_names);
	UNIT_RUN(test_lock);
	UNIT_RUN(test_crash);
	UNIT_RUN(test_concurrent_load);
	UNIT_RUN(test_concurrent_save);
	UNIT_RUN(test_leftovers);
	UNIT_RUN(test_symlinks);
	UNIT_RUN(test_state_and_limits);
	UNIT_RUN(test_enospc);
	return unit_summary();
}
