/* providers/imds.c against tests/tools/imds_emu.py, an IMDSv2 emulator forked here on
 * 127.0.0.1:<a free port> (one per case, with the faults that case needs), and against a
 * closed port. The module is driven by http_poll() as the agent loop drives it. One case
 * runs Debian's botocore (python3-botocore) against the same emulator, to show the emulator
 * speaks what real AWS clients expect. Everything stays on loopback.
 *
 * Run from the repository root (tests/run does). JFE_TEST_VERBOSE=1 shows the module's
 * debug log and the emulator's output. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "agent/http.h"
#include "agent/log.h"
#include "providers/imds.h"
#include "tests/unit/unit.h"

#define EMU_SCRIPT	"tests/tools/imds_emu.py"
#define AWS_CERT	"data/aws/rsa2048-us-east-1.pem"
#define MAX_EMUS	4

static char tmpdir[] = "/tmp/jfe-test-imds.XXXXXX";
static int verbose;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Debian's interpreter: it starts fast and has python3-botocore. */
static const char *
python(void)
{
	const char *p = getenv("JFE_PYTHON");

	if (p != NULL && *p != '\0')
		return p;
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* ---- the emulator ---- */

struct emu {
	pid_t		pid;
	unsigned	port;
	int		n;
	char		endpoint[64];
	char		cert[256];	/* its signing certificate */
	char		log[256];	/* one line per request */
};

static pid_t live[MAX_EMUS];

static void
reap(pid_t pid)
{
	int i, status;

	kill(pid, SIGTERM);
	for (i = 0; i < 200; i++) {	/* 2 s */
		if (waitpid(pid, &status, WNOHANG) != 0)
			return;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static void
emu_stop(struct emu *e)
{
	int i;

	if (e->pid <= 0)
		return;
	reap(e->pid);
	for (i = 0; i < MAX_EMUS; i++)
		if (live[i] == e->pid)
			live[i] = 0;
	e->pid = 0;
}

/* atexit: a failed check or an early return must not leave an emulator behind (a crash is
 * covered by PR_SET_PDEATHSIG) */
static void
stop_all(void)
{
	int i;

	for (i = 0; i < MAX_EMUS; i++)
		if (live[i] > 0) {
			reap(live[i]);
			live[i] = 0;
		}
	if (tmpdir[sizeof(tmpdir) - 7] != 'X') {
		char cmd[sizeof(tmpdir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

/* Starts the emulator with <args> (NULL-terminated) and waits, bounded, until it listens.
 * 0 or -1. */
static int
emu_start(struct emu *e, const char *const *args)
{
	static int seq;
	char ready[256], buf[32];
	const char *argv[64];
	int i, n = 0, fd, status, slot;
	ssize_t r;
	pid_t pid;

	memset(e, 0, sizeof(*e));
	for (slot = 0; slot < MAX_EMUS && live[slot] != 0; slot++)
		;
	if (slot == MAX_EMUS)
		return -1;
	e->n = ++seq;
	snprintf(ready, sizeof(ready), "%s/ready.%d", tmpdir, e->n);
	snprintf(e->cert, sizeof(e->cert), "%s/cert.%d.pem", tmpdir, e->n);
	snprintf(e->log, sizeof(e->log), "%s/log.%d", tmpdir, e->n);
	argv[n++] = python();
	argv[n++] = EMU_SCRIPT;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--ready-file";
	argv[n++] = ready;
	argv[n++] = "--write-cert";
	argv[n++] = e->cert;
	argv[n++] = "--log";
	argv[n++] = e->log;
	for (i = 0; args != NULL && args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* dies with us even if we crash or abort */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			if (!verbose)
				dup2(fd, 1);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	e->pid = pid;
	live[slot] = pid;
	for (i = 0; i < 1500; i++) {	/* 15 s: it makes an RSA key first */
		if ((fd = open(ready, O_RDONLY)) != -1) {
			r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (r > 0) {
				buf[r] = '\0';
				e->port = (unsigned)strtoul(buf, NULL, 10);
				snprintf(e->endpoint, sizeof(e->endpoint), "http://127.0.0.1:%u",
				    e->port);
				return e->port > 0 ? 0 : -1;
			}
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "imds_emu.py exited early (status %d)\n", status);
			live[slot] = 0;
			e->pid = 0;
			return -1;
		}
		sleep_ms(10);
	}
	emu_stop(e);
	return -1;
}

/* Lines of the emulator's request log that start with <prefix>. */
static int
emu_count(const struct emu *e, const char *prefix)
{
	char line[512];
	FILE *f = fopen(e->log, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
	fclose(f);
	return n;
}

static int
emu_log_has(const struct emu *e, const char *needle)
{
	char line[512];
	FILE *f = fopen(e->log, "r");
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* ---- a raw HTTP/1.1 exchange, to see what the emulator itself answers ---- */

static int
tcp_connect(unsigned port)
{
	struct sockaddr_in sin;
	struct timeval tv = { 3, 0 };
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends <method> <path> with the extra header lines <hdrs> ("" or "Name: v\r\n..."); returns
 * the status (0 on failure) and the body in <body>. */
static int
raw_http(unsigned port, const char *method, const char *path, const char *hdrs, char *body,
    size_t bodysz)
{
	char req[2048], resp[8192];
	size_t got = 0;
	ssize_t n;
	const char *b;
	int fd, status = 0, len;

	body[0] = '\0';
	len = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n", method, path, port, hdrs);
	if ((fd = tcp_connect(port)) == -1)
		return 0;
	if (write(fd, req, (size_t)len) != len)
		goto out;
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	if ((b = strstr(resp, "\r\n\r\n")) != NULL)
		snprintf(body, bodysz, "%s", b + 4);
out:
	close(fd);
	return status;
}

/* A port nothing listens on (it may be taken again in between: unlikely on loopback). */
static unsigned
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	unsigned port = 0;
	int t;

	if ((t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(t, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	close(t);
	return port;
}

/* ---- results recorded by the callbacks ---- */

struct got {
	int			calls;
	int			ok;
	char			why[1024];
	struct imds_identity	id;
	char			addrs[IMDS_MAX_ADDRS][64];
	size_t			n;
	struct imds_credentials	c;
	struct imds		*free_m;	/* imds_free() it from the callback */
};

static void
got_reset(struct got *g)
{
	OPENSSL_cleanse(g, sizeof(*g));
	memset(g, 0, sizeof(*g));
}

static void
got_why(struct got *g, int ok, const char *why)
{
	g->calls++;
	g->ok = ok;
	UNIT_CHECK(ok ? why == NULL : why != NULL && *why != '\0');
	snprintf(g->why, sizeof(g->why), "%s", why ? why : "");
	if (g->free_m != NULL) {
		imds_free(g->free_m);
		g->free_m = NULL;
	}
}

static void
on_identity(void *arg, int ok, const struct imds_identity *id, const char *why)
{
	struct got *g = arg;

	UNIT_CHECK(ok ? id != NULL : id == NULL);
	if (id != NULL)
		g->id = *id;
	got_why(g, ok, why);
}

static void
on_addrs(void *arg, int ok, char **addrs, size_t n, const char *why)
{
	struct got *g = arg;
	size_t i;

	UNIT_CHECK(ok || n == 0);
	UNIT_CHECK(n <= IMDS_MAX_ADDRS);
	for (i = 0; i < n && i < IMDS_MAX_ADDRS; i++)
		snprintf(g->addrs[i], sizeof(g->addrs[i]), "%s", addrs[i]);
	g->n = n;
	got_why(g, ok, why);
}

static void
on_creds(void *arg, int ok, const struct imds_credentials *c, const char *why)
{
	struct got *g = arg;

	UNIT_CHECK(ok ? c != NULL : c == NULL);
	if (c != NULL)
		g->c = *c;
	got_why(g, ok, why);
}

/* Polls until <g> got its callback (or every <g> of a NULL-terminated list), at most
 * <max_ms>. */
static void
run(struct http *h, struct got *g, int max_ms)
{
	int64_t end = mono_ms() + max_ms;

	while (g->calls == 0 && mono_ms() < end)
		http_poll(h, NULL, 0, 20);
}

/* Lets abandoned requests finish so that nothing is left for the leak checker. */
static void
drain(struct http *h)
{
	int64_t end = mono_ms() + 5000;

	while (http_in_flight(h) > 0 && mono_ms() < end)
		http_poll(h, NULL, 0, 20);
}

static struct imds *
new_imds(struct http *h, const struct emu *e, const char *cert)
{
	struct imds *m = imds_new(h, e->endpoint, cert, 1000);

	UNIT_CHECK(m != NULL);
	return m;
}

static int
has(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		return 1;
	fprintf(stderr, "  \"%s\" lacks \"%s\"\n", hay, needle);
	return 0;
}

/* ---- cases ---- */

static void
test_bad_args(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	char path[300];
	FILE *f;

	UNIT_CHECK(h != NULL);
	UNIT_CHECK(imds_new(NULL, "http://127.0.0.1", NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, NULL, NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, "http://127.0.0.1", NULL, 0) == NULL);
	UNIT_CHECK(imds_new(h, "ftp://127.0.0.1", NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, "http://", NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, "http://127.0.0.1/latest", NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, "http://user@127.0.0.1", NULL, 1000) == NULL);
	UNIT_CHECK(imds_new(h, "http://127.0.0.1\r\nX: y", NULL, 1000) == NULL);
	/* an unreadable certificate file, and one with no certificate in it */
	UNIT_CHECK(imds_new(h, "http://127.0.0.1", "/nonexistent/cert.pem", 1000) == NULL);
	snprintf(path, sizeof(path), "%s/garbage.pem", tmpdir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("not a certificate\n", f);
		fclose(f);
	}
	UNIT_CHECK(imds_new(h, "http://127.0.0.1", path, 1000) == NULL);
	/* a good certificate followed by a damaged one */
	if ((f = fopen(path, "w")) != NULL) {
		FILE *in = fopen(AWS_CERT, "r");
		char line[128];

		while (in != NULL && fgets(line, sizeof(line), in) != NULL)
			fputs(line, f);
		if (in != NULL)
			fclose(in);
		fputs("-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n", f);
		fclose(f);
	}
	UNIT_CHECK(imds_new(h, "http://127.0.0.1", path, 1000) == NULL);
	{
		struct imds *m = imds_new(h, "http://[fd00:ec2::254]/", AWS_CERT, 1000);

		UNIT_CHECK(m != NULL);	/* the published certificate loads */
		UNIT_CHECK(imds_set_token_ttl(m, 0) == -1);
		UNIT_CHECK(imds_set_token_ttl(m, IMDS_TOKEN_TTL_MAX + 1) == -1);
		UNIT_CHECK(imds_set_token_ttl(m, 1) == 0);
		UNIT_CHECK(imds_get_identity(m, NULL, NULL) == -1);
		imds_free(m);
	}
	imds_free(NULL);
	http_free(h);
}

static void
test_identity_verified(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g1, g2, g3;
	struct imds *m = NULL;
	const char *args[] = { "--region", "eu-west-3", "--instance-id", "i-0123456789abcdef0",
	    NULL };

	got_reset(&g1);
	got_reset(&g2);
	got_reset(&g3);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	/* two at once before any token: one token request serves both */
	UNIT_CHECK(imds_get_identity(m, on_identity, &g1) == 0);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g2) == 0);
	UNIT_CHECK(g1.calls == 0 && g2.calls == 0);	/* never from inside the call */
	run(h, &g1, 5000);
	run(h, &g2, 5000);
	UNIT_CHECK(g1.calls == 1 && g1.ok == 1);
	UNIT_CHECK(g2.calls == 1 && g2.ok == 1);
	UNIT_CHECK_STR(g1.id.instance_id, "i-0123456789abcdef0");
	UNIT_CHECK_STR(g1.id.account_id, "123456789012");
	UNIT_CHECK_STR(g1.id.region, "eu-west-3");
	UNIT_CHECK_STR(g1.id.availability_zone, "eu-west-3a");
	UNIT_CHECK_STR(g1.id.source, "aws-imds");
	UNIT_CHECK(g1.id.signature_verified == 1);
	UNIT_CHECK_STR(g2.id.instance_id, "i-0123456789abcdef0");
	/* later requests reuse the token */
	UNIT_CHECK(imds_get_identity(m, on_identity, &g3) == 0);
	run(h, &g3, 5000);
	UNIT_CHECK(g3.ok == 1 && g3.id.signature_verified == 1);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 1);
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/rsa2048 200 "
	    "token=valid") == 3);
	UNIT_CHECK(!emu_log_has(&e, "token=missing") && !emu_log_has(&e, "token=invalid"));
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

/* Without a certificate file the document is read but marked unverified. */
static void
test_identity_unverified(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;

	got_reset(&g);
	if (!h || emu_start(&e, NULL) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, NULL)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1 && g.id.signature_verified == 0);
	UNIT_CHECK_STR(g.id.instance_id, "i-0123456789abcdef0");
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/rsa2048") == 0);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

/* The PKCS#7 need not carry the signer's certificate: the file's is what counts. */
static void
test_identity_no_signer_cert(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;
	const char *args[] = { "--no-signer-cert", NULL };

	got_reset(&g);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1 && g.id.signature_verified == 1);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

static void
identity_fails(const char *const *args, int use_aws_cert, const char *why1, const char *why2)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;

	got_reset(&g);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, use_aws_cert ? AWS_CERT : e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.calls == 1 && g.ok == 0);
	UNIT_CHECK(has(g.why, why1));
	UNIT_CHECK(why2 == NULL || has(g.why, why2));
	UNIT_CHECK(g.id.instance_id[0] == '\0');
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

/* The document served is not the one signed. */
static void
test_tampered_document(void)
{
	const char *args[] = { "--tamper", "document", NULL };

	identity_fails(args, 0, "tampered", "differs");
}

/* The signed content was altered inside the PKCS#7: the signature itself breaks. */
static void
test_tampered_signature(void)
{
	const char *args[] = { "--tamper", "content", NULL };

	identity_fails(args, 0, "tampered", "does not verify");
}

/* AWS's real certificate must refuse the emulator's signature, although the PKCS#7 carries
 * the emulator's own certificate (which PKCS7_NOINTERN keeps out). */
static void
test_wrong_certificate(void)
{
	identity_fails(NULL, 1, "does not verify", AWS_CERT);
}

/* Signed, but not a sane document. */
static void
test_malformed_documents(void)
{
	const char *bad_id[] = { "--document-json", "{\"instanceId\": \"i-12 34\", "
	    "\"accountId\": \"123456789012\", \"region\": \"us-east-1\", "
	    "\"availabilityZone\": \"us-east-1a\"}", NULL };
	const char *bad_az[] = { "--document-json", "{\"instanceId\": \"i-0123456789abcdef0\", "
	    "\"accountId\": \"123456789012\", \"region\": \"us-east-1\", "
	    "\"availabilityZone\": \"eu-west-1a\"}", NULL };
	const char *not_obj[] = { "--document-json", "[\"i-0123456789abcdef0\"]", NULL };
	const char *dup[] = { "--document-json", "{\"instanceId\": \"i-0123456789abcdef0\", "
	    "\"instanceId\": \"i-0123456789abcdef1\", \"accountId\": \"123456789012\", "
	    "\"region\": \"us-east-1\", \"availabilityZone\": \"us-east-1a\"}", NULL };
	const char *bad_acct[] = { "--account-id", "12345", NULL };

	identity_fails(bad_id, 0, "instanceId", NULL);
	identity_fails(bad_az, 0, "availabilityZone", NULL);
	identity_fails(not_obj, 0, "not a JSON object", NULL);
	identity_fails(dup, 0, "not a JSON object", NULL);
	identity_fails(bad_acct, 0, "accountId", NULL);
}

static void
test_http_500(void)
{
	const char *args[] = { "--fail-500", "/latest/dynamic/", NULL };

	identity_fails(args, 0, "HTTP 500", "instance-identity/document");
}

static void
test_tokens_refused(void)
{
	const char *args[] = { "--refuse-tokens", "403", NULL };

	identity_fails(args, 0, "refused a session token", "403");
}

/* What the emulator itself requires, seen without imds.c: AWS's IMDSv2 rules. */
static void
test_emulator_requires_token(void)
{
	struct emu e = { 0 };
	char body[4096], hdr[2048], tok[1024];

	if (emu_start(&e, NULL) == -1) {
		UNIT_CHECK(!"emulator started");
		return;
	}
	/* IMDSv1 style: no token */
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/meta-data/instance-id", "", body,
	    sizeof(body)) == 401);
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/dynamic/instance-identity/document", "",
	    body, sizeof(body)) == 401);
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/meta-data/instance-id",
	    "X-aws-ec2-metadata-token: forged\r\n", body, sizeof(body)) == 401);
	/* the token PUT needs a TTL of 1..21600 */
	UNIT_CHECK(raw_http(e.port, "PUT", "/latest/api/token", "", body, sizeof(body)) == 400);
	UNIT_CHECK(raw_http(e.port, "PUT", "/latest/api/token",
	    "X-aws-ec2-metadata-token-ttl-seconds: 0\r\n", body, sizeof(body)) == 400);
	UNIT_CHECK(raw_http(e.port, "PUT", "/latest/api/token",
	    "X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n", body, sizeof(body)) == 400);
	UNIT_CHECK(raw_http(e.port, "PUT", "/latest/api/token",
	    "X-aws-ec2-metadata-token-ttl-seconds: abc\r\n", body, sizeof(body)) == 400);
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/api/token", "", body, sizeof(body)) == 405);
	UNIT_CHECK(raw_http(e.port, "PUT", "/latest/api/token",
	    "x-aws-ec2-metadata-token-ttl-seconds: 1\r\n", tok, sizeof(tok)) == 200);
	UNIT_CHECK(strlen(tok) > 20);
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s\r\n", tok);
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/meta-data/instance-id", hdr, body,
	    sizeof(body)) == 200);
	UNIT_CHECK_STR(body, "i-0123456789abcdef0");
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/meta-data/nonexistent", hdr, body,
	    sizeof(body)) == 404);
	/* a token of 1 s is refused once it expired */
	sleep_ms(1200);
	UNIT_CHECK(raw_http(e.port, "GET", "/latest/meta-data/instance-id", hdr, body,
	    sizeof(body)) == 401);
	emu_stop(&e);
}

/* A short token lifetime: imds.c renews the token before it expires, so no GET is refused. */
static void
test_token_renewed_before_expiry(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;

	got_reset(&g);
	if (!h || emu_start(&e, NULL) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_set_token_ttl(m, 1) == 0);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 1);
	/* still valid for less than 200 ms, under the quarter of its lifetime kept in reserve:
	 * renewed before use */
	sleep_ms(800);
	got_reset(&g);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1 && g.id.signature_verified == 1);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 2);
	/* expired: renewed too */
	sleep_ms(1100);
	got_reset(&g);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1 && g.id.signature_verified == 1);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 3);
	/* never refused on the way */
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/document 401") == 0);
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/rsa2048 401") == 0);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

/* The service forgets its tokens (as after a stop/start): the 401 renews the token once and
 * the GET is repeated. */
static void
test_token_renewed_after_401(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;

	got_reset(&g);
	if (!h || emu_start(&e, NULL) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1);
	kill(e.pid, SIGUSR1);
	sleep_ms(300);		/* Python runs the handler between requests */
	got_reset(&g);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1 && g.id.signature_verified == 1);
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/document 401 "
	    "token=invalid") == 1);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 2);
	UNIT_CHECK(emu_count(&e, "GET /latest/dynamic/instance-identity/document 200") == 2);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

/* No IMDS: a closed port fails within a second, and the machine-id fallback works. */
static void
test_no_imds(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct imds_identity id;
	struct imds *m = NULL;
	struct got g;
	char ep[64], path[300];
	int64_t t0;
	FILE *f;

	got_reset(&g);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%u", closed_port());
	if (!h || (m = imds_new(h, ep, AWS_CERT, 1000)) == NULL) {
		UNIT_CHECK(!"imds_new");
		goto out;
	}
	t0 = mono_ms();
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 3000);
	UNIT_CHECK(g.calls == 1 && g.ok == 0);
	UNIT_CHECK(mono_ms() - t0 < 1000);
	UNIT_CHECK(has(g.why, "no IMDS at"));

	snprintf(path, sizeof(path), "%s/machine-id", tmpdir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("0123456789abcdef0123456789abcdef\n", f);
		fclose(f);
	}
	memset(&id, 0x55, sizeof(id));
	UNIT_CHECK(identity_from_machine_id(path, &id) == 0);
	UNIT_CHECK_STR(id.instance_id, "mid-0123456789abcdef");
	UNIT_CHECK_STR(id.source, "machine-id");
	UNIT_CHECK(id.signature_verified == 0 && id.account_id[0] == '\0' &&
	    id.region[0] == '\0' && id.availability_zone[0] == '\0');
	/* without the newline too */
	if ((f = fopen(path, "w")) != NULL) {
		fputs("fedcba9876543210fedcba9876543210", f);
		fclose(f);
	}
	UNIT_CHECK(identity_from_machine_id(path, &id) == 0);
	UNIT_CHECK_STR(id.instance_id, "mid-fedcba9876543210");
	{
		static const char *const bad[] = { "uninitialized\n", "",
		    "0123456789ABCDEF0123456789ABCDEF\n", "0123456789abcdef\n",
		    "0123456789abcdef0123456789abcdef0\n", "0123456789abcdef0123456789abcdeg\n",
		    "0123456789abcdef0123456789abcdef\nmore\n" };
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if ((f = fopen(path, "w")) != NULL) {
				fputs(bad[i], f);
				fclose(f);
			}
			UNIT_CHECK(identity_from_machine_id(path, &id) == -1);
			UNIT_CHECK(id.instance_id[0] == '\0');
		}
	}
	UNIT_CHECK(identity_from_machine_id("/nonexistent/machine-id", &id) == -1);
out:
	imds_free(m);
	http_free(h);
}

/* An IMDS that never answers in time fails after the timeout, not later. */
static void
test_slow_imds(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;
	const char *args[] = { "--delay", "5", NULL };
	int64_t t0;

	got_reset(&g);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = imds_new(h, e.endpoint, e.cert, 300)) == NULL) {
		UNIT_CHECK(!"imds_new");
		goto out;
	}
	t0 = mono_ms();
	UNIT_CHECK(imds_get_identity(m, on_identity, &g) == 0);
	run(h, &g, 3000);
	UNIT_CHECK(g.calls == 1 && g.ok == 0);
	UNIT_CHECK(mono_ms() - t0 < 1000);
	UNIT_CHECK(has(g.why, "no IMDS at"));
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

static int
addr_in(const struct got *g, const char *a)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->addrs[i], a) == 0)
			return 1;
	return 0;
}

static void
addrs_case(const char *const *args, int want_ok, size_t want_n, const char *const *want,
    const char *why)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;
	size_t i;

	got_reset(&g);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_public_addrs(m, on_addrs, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.calls == 1 && g.ok == want_ok);
	UNIT_CHECK(g.n == want_n);
	for (i = 0; want != NULL && want[i] != NULL; i++)
		UNIT_CHECK(addr_in(&g, want[i]));
	UNIT_CHECK(why == NULL || has(g.why, why));
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

static void
test_public_addrs(void)
{
	const char *full[] = { "--public-ipv4", "203.0.113.7",
	    "--interface", "0e:1a:2b:3c:4d:5e=2001:db8::10,2001:DB8:0:0::11",
	    "--interface", "0e:00:00:00:00:02",		/* no IPv6: its ipv6s is a 404 */
	    "--interface", "0e:00:00:00:00:03=2001:db8::10", NULL };	/* a duplicate */
	const char *full_want[] = { "203.0.113.7", "2001:db8::10", "2001:db8::11", NULL };
	const char *none[] = { "--interface", "0e:00:00:00:00:02", NULL };
	const char *v6only[] = { "--interface", "0e:00:00:00:00:02=2600:1f18::1", NULL };
	const char *v6only_want[] = { "2600:1f18::1", NULL };
	const char *bad4[] = { "--raw", "meta-data/public-ipv4=203.0.113.300", NULL };
	const char *two4[] = { "--raw", "meta-data/public-ipv4=203.0.113.7\n203.0.113.8", NULL };
	const char *bad6[] = { "--raw",
	    "meta-data/network/interfaces/macs/0e:1a:2b:3c:4d:5e/ipv6s=2001:db8::1\nfe80::1%eth0",
	    NULL };
	const char *badmac[] = { "--raw", "meta-data/network/interfaces/macs=../../iam/", NULL };

	addrs_case(full, 1, 3, full_want, NULL);
	addrs_case(none, 1, 0, NULL, NULL);
	addrs_case(v6only, 1, 1, v6only_want, NULL);
	addrs_case(bad4, 0, 0, NULL, "public-ipv4");
	addrs_case(two4, 0, 0, NULL, "public-ipv4");
	addrs_case(bad6, 0, 0, NULL, "not an IPv6 address");
	addrs_case(badmac, 0, 0, NULL, "not a MAC");
}

/* Captures what the module logs (stderr) into a file while <on>. */
static int saved_stderr = -1;

static void
capture_stderr(const char *path, int on)
{
	int fd;

	fflush(stderr);
	if (on) {
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
			return;
		saved_stderr = dup(2);
		dup2(fd, 2);
		close(fd);
	} else if (saved_stderr != -1) {
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static int
file_has(const char *path, const char *needle, size_t len)
{
	static char buf[1 << 20];
	size_t n, i;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (i = 0; len > 0 && i + len <= n; i++)
		if (memcmp(buf + i, needle, len) == 0)
			return 1;
	return 0;
}

static void
test_role_credentials(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g, g2;
	struct imds *m = NULL;
	const char *args[] = { "--creds-rotate", "2", NULL };
	char logpath[300], first_key[128];
	time_t now = time(NULL);

	got_reset(&g);
	got_reset(&g2);
	snprintf(logpath, sizeof(logpath), "%s/stderr-creds", tmpdir);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	/* with the most verbose log: none of it may hold a secret */
	log_init("test_imds", 2);
	capture_stderr(logpath, 1);
	UNIT_CHECK(imds_get_role_credentials(m, on_creds, &g) == 0);
	run(h, &g, 5000);
	capture_stderr(logpath, 0);
	log_init("test_imds", verbose ? 2 : 0);
	UNIT_CHECK(g.calls == 1 && g.ok == 1);
	UNIT_CHECK(strncmp(g.c.access_key_id, "ASIA", 4) == 0 &&
	    strlen(g.c.access_key_id) == 20);
	UNIT_CHECK(strlen(g.c.secret_access_key) == 40);
	UNIT_CHECK(strlen(g.c.token) > 1000);
	UNIT_CHECK(g.c.expiration > now - 10 && g.c.expiration < now + 10);
	UNIT_CHECK(file_has(logpath, "credentials of role jfe-test-role", 32));
	UNIT_CHECK(!file_has(logpath, g.c.access_key_id, strlen(g.c.access_key_id)));
	UNIT_CHECK(!file_has(logpath, g.c.secret_access_key, strlen(g.c.secret_access_key)));
	UNIT_CHECK(!file_has(logpath, g.c.token, 24));
	UNIT_CHECK(!file_has(logpath, g.c.token + strlen(g.c.token) - 24, 24));
	/* the next rotation period gives new credentials */
	snprintf(first_key, sizeof(first_key), "%s", g.c.access_key_id);
	sleep_ms(2100);
	UNIT_CHECK(imds_get_role_credentials(m, on_creds, &g2) == 0);
	run(h, &g2, 5000);
	UNIT_CHECK(g2.ok == 1 && strcmp(g2.c.access_key_id, first_key) != 0);
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") == 1);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
	got_reset(&g);
	got_reset(&g2);
}

static void
creds_fail(const char *const *args, const char *why, const char *secret)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;
	char logpath[300];

	got_reset(&g);
	snprintf(logpath, sizeof(logpath), "%s/stderr-creds-fail", tmpdir);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	capture_stderr(logpath, 1);
	UNIT_CHECK(imds_get_role_credentials(m, on_creds, &g) == 0);
	run(h, &g, 5000);
	capture_stderr(logpath, 0);
	UNIT_CHECK(g.calls == 1 && g.ok == 0);
	UNIT_CHECK(has(g.why, why));
	if (secret != NULL) {
		UNIT_CHECK(strstr(g.why, secret) == NULL);
		UNIT_CHECK(!file_has(logpath, secret, strlen(secret)));
	}
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
}

static void
test_role_credentials_bad(void)
{
	const char *norole[] = { "--role", "", NULL };
	const char *notoken[] = { "--raw", "meta-data/iam/security-credentials/jfe-test-role="
	    "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIAEXAMPLEEXAMPLE12\", "
	    "\"SecretAccessKey\": \"SECRETSECRETSECRETvalue\", "
	    "\"Expiration\": \"2030-01-01T00:00:00Z\"}", NULL };
	const char *badexp[] = { "--raw", "meta-data/iam/security-credentials/jfe-test-role="
	    "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIAEXAMPLEEXAMPLE12\", "
	    "\"SecretAccessKey\": \"SECRETSECRETSECRETvalue\", \"Token\": \"TOKENTOKENvalue\", "
	    "\"Expiration\": \"tomorrow\"}", NULL };
	const char *failed[] = { "--raw", "meta-data/iam/security-credentials/jfe-test-role="
	    "{\"Code\": \"AssumeRoleUnauthorizedAccess\", \"Message\": \"EC2 cannot assume "
	    "the role\"}", NULL };
	const char *badrole[] = { "--raw", "meta-data/iam/security-credentials=../../x", NULL };
	const char *notjson[] = { "--raw", "meta-data/iam/security-credentials/jfe-test-role="
	    "AccessKeyId=SECRETSECRETSECRETvalue", NULL };

	creds_fail(norole, "no IAM role", NULL);
	creds_fail(notoken, "missing or malformed", "SECRETSECRETSECRETvalue");
	creds_fail(badexp, "missing or malformed", "TOKENTOKENvalue");
	creds_fail(failed, "AssumeRoleUnauthorizedAccess", NULL);
	creds_fail(badrole, "does not name a role", NULL);
	creds_fail(notjson, "not a JSON object", "SECRETSECRETSECRETvalue");
}

/* imds_free() with requests pending: every callback runs once ("cancelled") before it
 * returns, and the abandoned HTTP requests are cleaned up later by http.c. */
static void
test_free_cancels(void)
{
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g1, g2, g3;
	struct imds *m = NULL;
	const char *args[] = { "--delay", "0.5", "--delay-path", "/latest/dynamic/", NULL };

	got_reset(&g1);
	got_reset(&g2);
	got_reset(&g3);
	if (!h || emu_start(&e, args) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	/* pending on the token */
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g1) == 0);
	UNIT_CHECK(imds_get_role_credentials(m, on_creds, &g2) == 0);
	imds_free(m);
	m = NULL;
	UNIT_CHECK(g1.calls == 1 && g1.ok == 0);
	UNIT_CHECK_STR(g1.why, "cancelled");
	UNIT_CHECK(g2.calls == 1 && g2.ok == 0);
	drain(h);
	UNIT_CHECK(g1.calls == 1 && g2.calls == 1);

	/* pending on a slow GET; freed from another request's callback */
	got_reset(&g1);
	got_reset(&g2);
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_public_addrs(m, on_addrs, &g1) == 0);
	UNIT_CHECK(imds_get_identity(m, on_identity, &g2) == 0);
	g1.free_m = m;
	run(h, &g1, 5000);
	m = NULL;
	UNIT_CHECK(g1.calls == 1 && g1.ok == 1);
	UNIT_CHECK(g2.calls == 1 && g2.ok == 0);
	UNIT_CHECK_STR(g2.why, "cancelled");
	drain(h);
	UNIT_CHECK(g2.calls == 1);

	/* http_free() with a request in flight: the callback gets ok 0 */
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_identity(m, on_identity, &g3) == 0);
	http_cancel_all(h);
	UNIT_CHECK(g3.calls == 1 && g3.ok == 0);
	UNIT_CHECK_STR(g3.why, "cancelled");
out:
	imds_free(m);
	emu_stop(&e);
	drain(h);
	http_free(h);
}

static void
sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	int i;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Runs <py> with Debian's python3 in a clean environment pointing botocore at <endpoint>;
 * its stdout into <out>. The exit status, -1 on timeout. */
static int
run_botocore(const char *endpoint, const char *py, char *out, size_t outsz)
{
	char ep[128], home[300], *envp[16];
	int p[2], status, n = 0, fd;
	size_t got = 0;
	pid_t pid;
	int64_t end = mono_ms() + 60000;

	snprintf(ep, sizeof(ep), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s/", endpoint);
	snprintf(home, sizeof(home), "HOME=%s", tmpdir);
	/* nothing but IMDS may provide credentials, and no proxy may be used */
	envp[n++] = ep;
	envp[n++] = home;
	envp[n++] = "PATH=/usr/bin:/bin";
	envp[n++] = "AWS_CONFIG_FILE=/nonexistent/aws-config";
	envp[n++] = "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials";
	envp[n++] = "AWS_METADATA_SERVICE_TIMEOUT=2";
	envp[n++] = "AWS_METADATA_SERVICE_NUM_ATTEMPTS=1";
	envp[n++] = "PYTHONDONTWRITEBYTECODE=1";
	envp[n] = NULL;
	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, 0);
		execle("/usr/bin/python3", "python3", "-c", py, (char *)NULL, envp);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t r;

		if (mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(p[0]);
			return -1;
		}
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = read(p[0], out + got, outsz - 1 - got);
		if (r <= 0 && (r == 0 || errno != EAGAIN))
			break;
		if (r > 0)
			got += (size_t)r;
		if (got == outsz - 1)
			break;
	}
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Real AWS client code (botocore's credential chain, which ends in its IMDS provider)
 * against the emulator: it must get the role credentials, the same ones imds.c gets. */
static void
test_botocore(void)
{
	static const char py[] =
	    "import hashlib, sys\n"
	    "try:\n"
	    "    import botocore, botocore.session\n"
	    "except ImportError:\n"
	    "    print('NO-BOTOCORE'); sys.exit(3)\n"
	    "s = botocore.session.get_session()\n"
	    "c = s.get_credentials()\n"
	    "if c is None:\n"
	    "    print('NO-CREDENTIALS'); sys.exit(1)\n"
	    "f = c.get_frozen_credentials()\n"
	    "h = lambda v: hashlib.sha256(v.encode()).hexdigest()\n"
	    "print(c.method, f.access_key, h(f.secret_key), h(f.token), botocore.__version__)\n";
	struct http *h = http_new(NULL, "jfe-test");
	struct emu e = { 0 };
	struct got g;
	struct imds *m = NULL;
	char out[1024], method[64] = "", key[128] = "", sh[65] = "", th[65] = "", ver[32] = "";
	char mysh[65], myth[65];
	int rc;

	got_reset(&g);
	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "  /usr/bin/python3 is missing (apt-get install python3-botocore)\n");
		UNIT_CHECK(!"Debian's python3 with python3-botocore");
		goto out;
	}
	if (!h || emu_start(&e, NULL) == -1) {
		UNIT_CHECK(!"emulator started");
		goto out;
	}
	rc = run_botocore(e.endpoint, py, out, sizeof(out));
	if (rc == 3) {
		fprintf(stderr, "  python3-botocore is not installed (apt-get install "
		    "python3-botocore)\n");
		UNIT_CHECK(!"python3-botocore installed");
		goto out;
	}
	UNIT_CHECK(rc == 0);
	UNIT_CHECK(sscanf(out, "%63s %127s %64s %64s %31s", method, key, sh, th, ver) == 5);
	if (verbose)
		fprintf(stderr, "  botocore %s: method %s\n", ver, method);
	UNIT_CHECK_STR(method, "iam-role");
	/* it spoke IMDSv2: a token first, then every GET with it */
	UNIT_CHECK(emu_count(&e, "PUT /latest/api/token 200") >= 1);
	UNIT_CHECK(emu_count(&e, "GET /latest/meta-data/iam/security-credentials/ 200 "
	    "token=valid") >= 1);
	UNIT_CHECK(emu_count(&e, "GET /latest/meta-data/iam/security-credentials/jfe-test-role "
	    "200 token=valid") >= 1);
	UNIT_CHECK(!emu_log_has(&e, "token=missing"));
	/* and imds.c reads the same credentials */
	if ((m = new_imds(h, &e, e.cert)) == NULL)
		goto out;
	UNIT_CHECK(imds_get_role_credentials(m, on_creds, &g) == 0);
	run(h, &g, 5000);
	UNIT_CHECK(g.ok == 1);
	sha256_hex(g.c.secret_access_key, mysh);
	sha256_hex(g.c.token, myth);
	UNIT_CHECK_STR(key, g.c.access_key_id);
	UNIT_CHECK_STR(sh, mysh);
	UNIT_CHECK_STR(th, myth);
out:
	imds_free(m);
	emu_stop(&e);
	http_free(h);
	got_reset(&g);
}

int
main(void)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy", "HTTP_PROXY",
	    "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY" };
	size_t i;

	verbose = getenv("JFE_TEST_VERBOSE") != NULL;
	log_init("test_imds", verbose ? 2 : 0);
	/* every request here goes to loopback, never to a proxy named in the environment */
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(stop_all);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	UNIT_RUN(test_bad_args);
	UNIT_RUN(test_emulator_requires_token);
	UNIT_RUN(test_identity_verified);
	UNIT_RUN(test_identity_unverified);
	UNIT_RUN(test_identity_no_signer_cert);
	UNIT_RUN(test_tampered_document);
	UNIT_RUN(test_tampered_signature);
	UNIT_RUN(test_wrong_certificate);
	UNIT_RUN(test_malformed_documents);
	UNIT_RUN(test_http_500);
	UNIT_RUN(test_tokens_refused);
	UNIT_RUN(test_token_renewed_before_expiry);
	UNIT_RUN(test_token_renewed_after_401);
	UNIT_RUN(test_no_imds);
	UNIT_RUN(test_slow_imds);
	UNIT_RUN(test_public_addrs);
	UNIT_RUN(test_role_credentials);
	UNIT_RUN(test_role_credentials_bad);
	UNIT_RUN(test_free_cancels);
	UNIT_RUN(test_botocore);
	curl_global_cleanup();
	return unit_summary();
}
