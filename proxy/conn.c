#include "proxy/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/options.h"
#include "proxy/backend.h"
#include "proxy/certs.h"
#include "proxy/challenge.h"
#include "proxy/conn_starttls.h"
#include "proxy/names.h"
#include "proxy/relay.h"
#include "proxy/sockaddr.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

static const char *const kind_names[CK_KIND_MAX] = {
	"unknown", "plain", "tls", "tls-passthrough", "starttls"
};

enum cert_status
tls_conn_select(void *app, SSL_CTX **ctx)
{
	struct conn *c = app;
	const struct hello_info *h = c ? c->hello : NULL;
	enum cert_status st;

	*ctx = NULL;
	if (h == NULL || c->cname == NULL)
		return CERT_NONE;       /* no SNI, an IP literal or junk: the fallback */
	/* A CA validating TLS-ALPN-01 offers acme-tls/1 for a name we have a challenge for. */
	if (hello_alpn_offers(h, "acme-tls/1") && (*ctx = challenge_alpn_lookup(c->cname))) {
		c->acme_alpn = 1;
		return CERT_READY;
	}
	if (c->cert_fallback)
		return CERT_NONE;
	{
		char client[INET6_ADDRSTRLEN];

		st = certs_lookup(c->cname, sa_addr_str(&c->client, client, sizeof(client)), 1,
		    ctx);
	}
	if (st == CERT_PENDING && !c->cert_wait) {
		c->cert_wait = 1;
		c->t_wait = c->w->now;
		worker_wait_add(c->w, c);
	}
	return st;
}

const char *
tls_conn_alpn(void *app)
{
	struct conn *c = app;

	if (c == NULL)
		return NULL;
	if (c->acme_alpn)
		return "acme-tls/1";
	/* PostgreSQL 17's direct TLS (sslnegotiation=direct) insists on its ALPN, and what
	 * follows the handshake is the usual StartupMessage: plain relaying serves it. */
	if (c->hello && hello_alpn_offers(c->hello, "postgresql"))
		return "postgresql";
	return NULL;
}

static struct conn *
conn_of(struct endpoint *ep)
{
	if (ep->tag == EPT_CLIENT)
		return (struct conn *)ep;
	return (struct conn *)((char *)ep - offsetof(struct conn, up));
}

static int
ep_add(struct worker *w, struct endpoint *ep)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = ep,
	};

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, ep->fd, &ev);
}

void
conn_set_kind(struct conn *c, enum conn_kind k)
{
	struct worker_stats *st = &c->w->st;

	if (c->kind == k)
		return;
	/* A reclassification (plain → STARTTLS) moves the connection: totals count it once. */
	if (c->kind != CK_UNKNOWN) {
		atomic_fetch_sub_explicit(&st->active[c->kind], 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(&st->total[c->kind], 1, memory_order_relaxed);
	}
	c->kind = (uint8_t)k;
	atomic_fetch_add_explicit(&st->active[k], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->total[k], 1, memory_order_relaxed);
}

void
conn_set_state(struct conn *c, enum conn_state s)
{
	c->state = (uint8_t)s;
	c->t_state = c->w->now;
}

static void
sock_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	/* SO_LINGER 0: close() sends RST, the way a refused or reset peer looks. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void
conn_log(struct conn *c)
{
	char cl[SA_STRLEN], ds[SA_STRLEN], sni[300] = "";
	uint64_t ms = c->w->now - c->t_start;

	if (log_verbose() < 1)
		return;
	if (c->sni)
		log_escape(sni, sizeof(sni), c->sni, strlen(c->sni));
	log_info("conn client=%s dst=%s kind=%s sni=\"%s\" up=%llu down=%llu ms=%llu end=%s",
	    sa_str(&c->client, cl, sizeof(cl)), sa_str(&c->dst, ds, sizeof(ds)),
	    kind_names[c->kind], sni, (unsigned long long)c->c2u.bytes,
	    (unsigned long long)c->u2c.bytes, (unsigned long long)ms,
	    c->close_reason ? c->close_reason : "close");
}

static void
flow_release(struct worker *w, struct flow *f)
{
	if (f->pipe_r >= 0) {
		if (f->pipe_bytes == 0)
			worker_pipe_put(w, f->pipe_r, f->pipe_w);
		else {
			close(f->pipe_r);
			close(f->pipe_w);
		}
		f->pipe_r = f->pipe_w = -1;
	}
	free(f->pend);
	f->pend = NULL;
	f->pend_len = f->pend_off = 0;
}

/* Ends the connection. <reset>: close with RST on both sides (a refused upstream, a reset
 * peer), so neither end mistakes it for a clean end of stream. */
int
conn_close(struct conn *c, int reset, const char *why)
{
	struct worker *w = c->w;

	if (c->state == CS_CLOSED)
		return -1;
	if (why)
		c->close_reason = why;
	conn_log(c);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (reset) {
		sock_reset(c->cli.fd);
		if (c->up.fd >= 0)
			sock_reset(c->up.fd);
	}
	close(c->cli.fd);
	if (c->up.fd >= 0)
		close(c->up.fd);
	c->cli.fd = c->up.fd = -1;
	flow_release(w, &c->c2u);
	flow_release(w, &c->u2c);
	free(c->sniff);
	c->sniff = NULL;
	free(c->greet);
	c->greet = NULL;
	free(c->st);
	c->st = NULL;
	free(c->hello);
	c->hello = NULL;
	free(c->sni);
	c->sni = NULL;
	free(c->cname);
	c->cname = NULL;
	if (c->cert_wait)
		worker_wait_remove(w, c);
	timer_disarm(&w->timers, &c->timer);
	if (c->kind != CK_UNKNOWN)
		atomic_fetch_sub_explicit(&w->st.active[c->kind], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.bytes_c2u, c->c2u.bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.bytes_u2c, c->u2c.bytes, memory_order_relaxed);
	c->state = CS_CLOSED;
	worker_conn_unlink(w, c);
	/* Freed after the current batch of events: a later event of the same batch may still
	 * point at this connection's other socket. */
	c->next = w->dead;
	w->dead = c;
	return -1;
}

void
conn_abort(struct conn *c, const char *why)
{
	(void)conn_close(c, 1, why);
}

/* The upstream socket: from the client's address unless --no-preserve-source, and with the
 * upstream mark when the services' replies find jfe by it (proxy/returnpath.h). */
static int
conn_upstream_open(const struct conn *c)
{
	const struct jfe_options *o = c->w->opt;
	int preserve = !o->no_preserve_source;

	return upstream_connect(&c->client, &c->dst, preserve,
	    preserve && !o->return_conntrack ? o->upstream_mark : 0);
}

int
conn_start(struct worker *w, int cfd)
{
	struct conn *c;
	socklen_t sl;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(cfd);
		return -1;
	}
	c->cli.tag = EPT_CLIENT;
	c->cli.fd = cfd;
	c->up.tag = EPT_UPSTREAM;
	c->up.fd = -1;
	c->w = w;
	c->c2u.pipe_r = c->c2u.pipe_w = c->u2c.pipe_r = c->u2c.pipe_w = -1;
	c->t_start = c->t_state = c->t_active = w->now;
	c->state = CS_SNIFF;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	atomic_fetch_add_explicit(&w->st.current, 1, memory_order_relaxed);

	sl = sizeof(c->client);
	if (getpeername(cfd, (struct sockaddr *)&c->client, &sl) != 0)
		goto fail;
	sl = sizeof(c->dst);
	/* With tproxy, the accepted socket's local address is where the client was going. */
	if (getsockname(cfd, (struct sockaddr *)&c->dst, &sl) != 0)
		goto fail;
	/* Loopback is never intercepted, so a loopback destination means someone connected
	 * to the listener itself: relaying that would connect jfe to itself, forever. */
	if (sa_is_loopback(&c->dst)) {
		(void)conn_close(c, 1, "direct-to-listener");
		return 0;
	}
	c->up.fd = conn_upstream_open(c);
	if (c->up.fd < 0) {
		char ds[SA_STRLEN];

		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Out of descriptors: take no more connections for a moment. */
			log_warn("worker %d: upstream socket: %s; pausing accepts", w->id,
			    strerror(errno));
			worker_accept_pause(w);
		}
		log_debug("upstream %s: %s", sa_str(&c->dst, ds, sizeof(ds)), strerror(errno));
		atomic_fetch_add_explicit(&w->st.upstream_failures, 1, memory_order_relaxed);
		(void)conn_close(c, 1, "upstream-error");
		return 0;
	}
	c->up_connecting = 1;
	if (ep_add(w, &c->cli) != 0 || ep_add(w, &c->up) != 0)
		goto fail;
	relay_update_timer(c);
	return 0;
fail:
	log_warn("conn: set-up failed: %s", strerror(errno));
	(void)conn_close(c, 1, "setup-error");
	return -1;
}

/* Checks a pending upstream connect. Returns -1 when it failed (the connection is closed). */
static int
conn_upstream_check(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!c->up_connecting || !(c->up.ready & (EP_W | EP_ERR | EP_HUP)))
		return 0;
	if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0 && !(c->up.ready & EP_W))
		return 0;
	if (err) {
		char ds[SA_STRLEN];

		log_debug("upstream %s: %s", sa_str(&c->dst, ds, sizeof(ds)), strerror(err));
		atomic_fetch_add_explicit(&c->w->st.upstream_failures, 1, memory_order_relaxed);
		/* Port 80 with no service still answers a CA's HTTP-01 request: wait for the
		 * request before deciding. */
		if (c->state == CS_SNIFF && sa_port(&c->dst) == 80 && challenge_http_any()) {
			close(c->up.fd);
			c->up.fd = -1;
			c->up.ready = 0;
			c->up_connecting = 0;
			c->up_dead = 1;
			return 0;
		}
		/* The client sees what it would have seen without jfe: a reset. */
		return conn_close(c, 1, err == ECONNREFUSED ? "upstream-refused" :
		    "upstream-error");
	}
	c->up_connecting = 0;
	c->up_connected = 1;
	return 0;
}

/* Reads what the client sent so far (bounded). Returns -1 if the connection was closed. */
static int
conn_sniff_read(struct conn *c)
{
	while ((c->cli.ready & EP_R) && !c->c2u.eof && c->sniff_len < CONN_SNIFF_MAX) {
		size_t room = CONN_SNIFF_MAX - c->sniff_len;
		ssize_t n = read(c->cli.fd, c->w->scratch, room < WORKER_SCRATCH ? room :
		    WORKER_SCRATCH);
		uint8_t *nb;

		if (n > 0) {
			/* Sized to what arrived: a silent or slow client costs almost nothing. */
			if ((nb = realloc(c->sniff, c->sniff_len + (size_t)n)) == NULL)
				return conn_close(c, 1, "no-memory");
			memcpy(nb + c->sniff_len, c->w->scratch, (size_t)n);
			c->sniff = nb;
			c->sniff_len += (uint32_t)n;
			c->t_active = c->w->now;
		} else if (n == 0)
			c->c2u.eof = 1;
		else if (errno == EAGAIN || errno == EINTR)
			c->cli.ready &= (uint8_t)~EP_R;
		else
			return conn_close(c, 1, "client-reset");
	}
	return 0;
}

static int
conn_to_passthrough_kind(struct conn *c, enum conn_kind kind)
{
	if (c->up_dead)
		return conn_close(c, 1, "upstream-refused");
	/* What either side already sent goes across first, then the kernel moves the rest. */
	c->c2u.pend = c->sniff;
	c->c2u.pend_len = c->sniff_len;
	c->c2u.pend_off = 0;
	c->sniff = NULL;
	c->sniff_len = 0;
	c->u2c.pend = c->greet;
	c->u2c.pend_len = c->greet_len;
	c->u2c.pend_off = 0;
	c->greet = NULL;
	c->greet_len = 0;
	conn_set_kind(c, kind);
	conn_set_state(c, CS_RELAY);
	return 0;
}

static int
conn_to_passthrough(struct conn *c)
{
	return conn_to_passthrough_kind(c, CK_PLAIN);
}

static int
conn_to_tls(struct conn *c, struct hello_info *h)
{
	char name[NAME_MAX_LEN + 1];

	c->hello = h;
	if (h->sni_present && (c->sni = strdup(h->sni)) == NULL)
		return conn_close(c, 1, "no-memory");
	if (h->sni_present && name_normalize(h->sni, h->sni_len, name, 0) == 0 &&
	    (c->cname = strdup(name)) == NULL)
		return conn_close(c, 1, "no-memory");
	/* Mail and database clients often send no SNI after STARTTLS: they get the host's own
	 * name (--hostname, else the system's), through admission like any other name. */
	if (!h->sni_present && c->st_tls &&
	    name_normalize(c->w->tls->fallback_name, strlen(c->w->tls->fallback_name), name,
	    0) == 0 && (c->cname = strdup(name)) == NULL)
		return conn_close(c, 1, "no-memory");
	if (c->up_dead)
		return conn_close(c, 1, "upstream-refused");
	c->ssl = tls_session_new(c->w->tls, c->cli.fd, c->sniff, c->sniff_len, c);
	if (c->ssl == NULL)
		return conn_close(c, 1, "tls-setup");
	conn_set_kind(c, c->st_tls ? CK_STARTTLS : CK_TLS);
	conn_set_state(c, CS_HANDSHAKE);
	/* OpenSSL reads the replayed hello without waiting for the socket. */
	c->cli.ready |= EP_R;
	return 0;
}

static int conn_probe_plain(struct conn *c);
static int conn_to_tls(struct conn *c, struct hello_info *h);

/* The service is plaintext after all: a fresh upstream connection for the TLS path (the
 * probed one has seen the hello). */
static int
conn_upstream_reconnect(struct conn *c)
{
	close(c->up.fd);
	c->up.ready = 0;
	c->up_connected = 0;
	c->up.fd = conn_upstream_open(c);
	if (c->up.fd < 0)
		return conn_close(c, 1, "upstream-error");
	c->up_connecting = 1;
	c->t_start = c->w->now;
	if (ep_add(c->w, &c->up) != 0)
		return conn_close(c, 1, "setup-error");
	return 0;
}

/* A TLS hello: terminate it, or leave it to a service that does TLS itself. */
static int
conn_tls_decide(struct conn *c, struct hello_info *h)
{
	enum backend_verdict v = backend_verdict(c->w->backends, &c->dst, c->w->now);
	char name[NAME_MAX_LEN + 1];
	SSL_CTX *chal = NULL;

	/* After STARTTLS the service is known to be plaintext: nothing to probe. */
	if (c->st_tls)
		return conn_to_tls(c, h);
	/* A CA validating TLS-ALPN-01 for us must reach jfe, whatever the service is. */
	if (hello_alpn_offers(h, "acme-tls/1") && h->sni_present &&
	    name_normalize(h->sni, h->sni_len, name, 0) == 0 &&
	    (chal = challenge_alpn_lookup(name)) != NULL) {
		SSL_CTX_free(chal);
		return conn_to_tls(c, h);
	}
	if (v == BV_PLAIN || c->w->opt->tls_probe_ms == 0 || c->up_dead)
		return conn_to_tls(c, h);
	if (v == BV_TLS) {
		free(h);
		return conn_to_passthrough_kind(c, CK_TLS_BACKEND);
	}
	c->hello = h;
	conn_set_state(c, CS_PROBE);
	return 0;
}

/* PROBE: the hello went to the service; its first bytes tell whether it speaks TLS. */
static int
conn_probe_step(struct conn *c)
{
	unsigned char b[2];
	ssize_t n;

	if (conn_upstream_check(c) != 0)
		return -1;
	if (!c->up_connected)
		return 0;
	while (c->sniff_off < c->sniff_len) {
		n = send(c->up.fd, c->sniff + c->sniff_off, c->sniff_len - c->sniff_off,
		    MSG_NOSIGNAL);
		if (n > 0)
			c->sniff_off += (uint32_t)n;
		else if (n < 0 && errno == EAGAIN)
			return 0;
		else
			goto plain;
	}
	if (!c->probe_sent) {
		c->probe_sent = 1;
		c->t_state = c->w->now;     /* the service's time to answer starts now */
	}
	if (!(c->up.ready & (EP_R | EP_HUP | EP_ERR)))
		return 0;
	n = recv(c->up.fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN) {
		c->up.ready &= (uint8_t)~EP_R;
		return 0;
	}
	if (n >= 1 && (b[0] == 0x16 || b[0] == 0x15) && (n == 1 || b[1] == 3)) {
		if (n == 1)
			return 0;
		/* A handshake or an alert record: the service does TLS; stay out of it. */
		backend_learn(c->w->backends, &c->dst, BV_TLS, c->w->now);
		c->c2u.bytes += c->sniff_len;
		free(c->sniff);
		c->sniff = NULL;
		c->sniff_len = c->sniff_off = 0;
		free(c->hello);
		c->hello = NULL;
		return conn_to_passthrough_kind(c, CK_TLS_BACKEND);
	}
plain:
	return conn_probe_plain(c);
}

/* The service answered in plaintext, closed, or said nothing in time: jfe terminates. */
static int
conn_probe_plain(struct conn *c)
{
	struct hello_info *h = c->hello;

	backend_learn(c->w->backends, &c->dst, BV_PLAIN, c->w->now);
	c->hello = NULL;
	c->sniff_off = 0;
	if (conn_upstream_reconnect(c) != 0) {
		free(h);
		return -1;
	}
	return conn_to_tls(c, h);
}

/* A CA fetching an HTTP-01 token we published: answered here, never passed to the service.
 * Returns 1 when more bytes are needed, 0 when it is not ours (pass through), -1 when the
 * connection was answered and closed. */
static int
conn_http01(struct conn *c)
{
	char keyauth[512], resp[768];
	const char *tok;
	size_t toklen;
	int r = challenge_http_request((const char *)c->sniff, c->sniff_len, &tok, &toklen), n;

	if (r < 0)
		return (c->c2u.eof || c->sniff_len >= 4096) ? 0 : 1;
	if (r == 0 || challenge_http_lookup(tok, toklen, keyauth, sizeof(keyauth)) != 0)
		return 0;
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(keyauth), keyauth);
	/* A small answer on a fresh socket: the send buffer takes it whole. */
	if (send(c->cli.fd, resp, (size_t)n, MSG_NOSIGNAL) == n)
		c->u2c.bytes = (uint64_t)n;
	shutdown(c->cli.fd, SHUT_WR);
	return conn_close(c, 0, "acme-http-01");
}

/* SNIFF: decide what this connection is from whoever speaks first. Returns -1 when the
 * connection was closed. */
static int
conn_sniff_step(struct conn *c)
{
	struct hello_info *h;
	enum hello_result r = HELLO_NEED_MORE;

	if (conn_upstream_check(c) != 0 || conn_sniff_read(c) != 0)
		return -1;
	if (c->sniff_len > 0) {
		if ((h = malloc(sizeof(*h))) == NULL)
			return conn_close(c, 1, "no-memory");
		r = hello_parse(c->sniff, c->sniff_len, h);
		if (r == HELLO_OK)
			return conn_tls_decide(c, h);
		free(h);
		/* After STARTTLS only a TLS hello may follow. */
		if (c->st_tls && (r != HELLO_NEED_MORE || c->c2u.eof ||
		    c->sniff_len >= CONN_SNIFF_MAX))
			return conn_close(c, 0, "starttls-not-tls");
		if (r == HELLO_NOT_TLS && !c->w->opt->no_starttls) {
			int sr = conn_starttls_client_first(c);

			if (sr > 0)
				return c->state == CS_CLOSED ? -1 : 0;
			if (sr < 0 && !c->c2u.eof)
				return 0;
		}
		if (r == HELLO_NOT_TLS && sa_port(&c->dst) == 80 && challenge_http_any()) {
			int hr = conn_http01(c);

			if (hr != 0)
				return hr < 0 ? -1 : 0;
		}
		if (r != HELLO_NEED_MORE || c->c2u.eof || c->sniff_len >= CONN_SNIFF_MAX)
			return conn_to_passthrough(c);
	}
	if (c->st_tls)
		return c->c2u.eof ? conn_close(c, 0, "starttls-not-tls") : 0;
	if (c->c2u.eof)
		return conn_to_passthrough(c);
	/* The server spoke before the client finished a hello: a server-first protocol
	 * (SMTP, SSH, MySQL...). A greeting a STARTTLS machine knows starts it; anything else
	 * is relayed at once. */
	if (c->up_connected && (c->up.ready & (EP_R | EP_HUP))) {
		int sr = 1;

		c->server_spoke = 1;
		if (c->sniff_len == 0 && !c->w->opt->no_starttls &&
		    (sr = conn_starttls_server_first(c)) < 0)
			return -1;
		return sr > 0 ? conn_to_passthrough(c) : 0;
	}
	return 0;
}

static int
conn_handshake_step(struct conn *c)
{
	int r, err;

	if (conn_upstream_check(c) != 0)
		return -1;
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		if (c->acme_alpn)
			return conn_close(c, 0, "acme-tls-alpn-01");
		c->tls_ready = 1;
		/* OpenSSL hands sending to the kernel when it has the "tls" ULP; elsewhere the
		 * user-space path serves, and status says which one ran. */
		if (BIO_get_ktls_send(SSL_get_wbio(c->ssl)))
			atomic_fetch_add_explicit(&c->w->st.ktls_tx, 1, memory_order_relaxed);
		free(c->hello);
		c->hello = NULL;
		conn_set_state(c, CS_RELAY);
		c->t_active = c->w->now;
		return 0;
	}
	err = SSL_get_error(c->ssl, r);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		c->cli.ready &= (uint8_t)~EP_R;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->cli.ready &= (uint8_t)~EP_W;
		return 0;
	case SSL_ERROR_WANT_CLIENT_HELLO_CB:
		/* Parked: the agent is getting this name's certificate. */
		return 0;
	default: {
		char ds[SA_STRLEN], cl[SA_STRLEN];
		unsigned long e = ERR_peek_error();

		atomic_fetch_add_explicit(&c->w->st.handshake_failures, 1, memory_order_relaxed);
		log_debug("handshake %s -> %s failed: %s", sa_str(&c->client, cl, sizeof(cl)),
		    sa_str(&c->dst, ds, sizeof(ds)),
		    e ? ERR_reason_error_string(e) : strerror(errno));
		return conn_close(c, 0, "handshake-failed");
	}
	}
}

static void
conn_process(struct conn *c)
{
	for (;;) {
		uint8_t before = c->state;

		switch (c->state) {
		case CS_SNIFF:
			if (conn_sniff_step(c) != 0)
				return;
			break;
		case CS_PROBE:
			if (conn_probe_step(c) != 0)
				return;
			break;
		case CS_STARTTLS:
			if (conn_upstream_check(c) != 0 || conn_starttls_step(c) != 0)
				return;
			break;
		case CS_HANDSHAKE:
			if (conn_handshake_step(c) != 0)
				return;
			break;
		case CS_RELAY:
			/* The first exchange inside TLS still goes through the machine. */
			if (c->st != NULL) {
				if (conn_starttls_step(c) != 0)
					return;
				if (c->st != NULL)
					break;
			}
			switch (relay_step(c)) {
			case RELAY_DONE:
				(void)conn_close(c, 0, NULL);
				return;
			case RELAY_RESET:
				(void)conn_close(c, 1, NULL);
				return;
			default:
				break;
			}
			break;
		default:
			return;
		}
		/* A step that closed <c> returned above: <c> is still live here. */
		if (c->state == before)
			break;
	}
	relay_update_timer(c);
}

void
conn_event(struct endpoint *ep, uint32_t events)
{
	struct conn *c = conn_of(ep);

	if (c->state == CS_CLOSED)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP))
		ep->ready |= EP_R;
	if (events & EPOLLRDHUP)
		ep->ready |= EP_RDHUP;
	if (events & EPOLLOUT)
		ep->ready |= EP_W;
	if (events & EPOLLHUP)
		ep->ready |= EP_HUP | EP_R | EP_W;
	if (events & EPOLLERR)
		ep->ready |= EP_ERR | EP_R | EP_W;
	conn_process(c);
}

void
conn_cert_changed(struct conn *c)
{
	if (!c->cert_wait || certs_peek(c->cname) == CERT_PENDING)
		return;
	worker_wait_remove(c->w, c);
	c->cert_wait = 0;
	conn_process(c);
}

void
conn_timeout(struct conn *c)
{
	uint64_t due = relay_deadline(c);

	if (due > c->w->now) {
		timer_arm(&c->w->timers, &c->timer, due);
		return;
	}
	switch (c->state) {
	case CS_SNIFF:
		if (c->up_connecting) {
			atomic_fetch_add_explicit(&c->w->st.upstream_failures, 1,
			    memory_order_relaxed);
			(void)conn_close(c, 1, "upstream-timeout");
			return;
		}
		/* A hello begun and never finished (a slowloris) ends here; when both sides are
		 * silent, jfe only relays from now on, whatever comes. */
		if (c->st_tls) {
			(void)conn_close(c, 0, "handshake-timeout");
			return;
		}
		if (c->sniff_len > 0) {
			(void)conn_close(c, 0, "hello-timeout");
			return;
		}
		if (conn_to_passthrough(c) == 0)
			conn_process(c);
		return;
	case CS_PROBE:
		if (c->up_connecting) {
			(void)conn_close(c, 1, "upstream-timeout");
			return;
		}
		if (!c->probe_sent) {
			timer_arm(&c->w->timers, &c->timer, c->w->now + c->w->opt->tls_probe_ms);
			return;
		}
		if (conn_probe_plain(c) == 0)
			conn_process(c);
		return;
	case CS_HANDSHAKE:
		if (c->cert_wait && !c->up_connecting) {
			/* The CA is slow: finish with the fallback, issuance goes on. */
			worker_wait_remove(c->w, c);
			c->cert_wait = 0;
			c->cert_fallback = 1;
			conn_process(c);
			return;
		}
		(void)conn_close(c, c->up_connecting, c->up_connecting ? "upstream-timeout" :
		    "handshake-timeout");
		return;
	case CS_STARTTLS:
		if (c->up_connecting) {
			(void)conn_close(c, 1, "upstream-timeout");
			return;
		}
		(void)conn_close(c, 0, "idle-timeout");
		return;
	case CS_RELAY:
		(void)conn_close(c, 0, "idle-timeout");
		return;
	default:
		return;
	}
}
