#include "proxy/tls.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"

/* ---- session tickets: keys live only in memory and rotate, so a stolen ticket stops working
 * soon and a restart invalidates all of them. */

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

static struct ticket_key ticket_keys[2];        /* [0] current, [1] previous */
static pthread_rwlock_t ticket_lock = PTHREAD_RWLOCK_INITIALIZER;

void
tls_ticket_rotate(void)
{
	struct ticket_key k;

	if (RAND_bytes(k.name, sizeof(k.name)) != 1 || RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1) {
		log_warn("tls: cannot make a new session-ticket key; keeping the old one");
		return;
	}
	pthread_rwlock_wrlock(&ticket_lock);
	ticket_keys[1] = ticket_keys[0];
	ticket_keys[0] = k;
	pthread_rwlock_unlock(&ticket_lock);
	OPENSSL_cleanse(&k, sizeof(k));
}

static int
ticket_key_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	OSSL_PARAM params[2];
	int ret = 0, which = 0;

	pthread_rwlock_rdlock(&ticket_lock);
	if (enc)
		k = ticket_keys[0];
	else if (memcmp(key_name, ticket_keys[0].name, 16) == 0)
		k = ticket_keys[0];
	else if (memcmp(key_name, ticket_keys[1].name, 16) == 0) {
		k = ticket_keys[1];
		which = 1;
	} else {
		pthread_rwlock_unlock(&ticket_lock);
		return 0;       /* unknown key: full handshake */
	}
	pthread_rwlock_unlock(&ticket_lock);

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(key_name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
		    EVP_MAC_init(hctx, k.hmac, sizeof(k.hmac), params) != 1)
			ret = -1;
		else
			ret = 1;
	} else {
		if (EVP_MAC_init(hctx, k.hmac, sizeof(k.hmac), params) != 1 ||
		    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			ret = -1;
		else
			ret = which ? 2 : 1;    /* 2: valid but old, issue a fresh ticket */
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

/* ---- replay BIO: OpenSSL first reads the bytes we already took off the socket while
 * sniffing, then the socket itself. Writes go to a plain socket BIO (so kTLS can engage). */

struct replay {
	const uint8_t *buf;
	size_t len, off;
	int fd;
	int drained;            /* the last read() got less than asked: the socket is empty */
};

static BIO_METHOD *replay_method;
static pthread_once_t replay_once = PTHREAD_ONCE_INIT;

static int
replay_read(BIO *b, char *out, int outl)
{
	struct replay *r = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (outl <= 0)
		return 0;
	if (r->off < r->len) {
		size_t k = r->len - r->off;

		if (k > (size_t)outl)
			k = (size_t)outl;
		memcpy(out, r->buf + r->off, k);
		r->off += k;
		return (int)k;
	}
	n = read(r->fd, out, (size_t)outl);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(b);
	r->drained = n >= 0 && n < outl;
	return (int)n;
}

int
tls_socket_drained(SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);
	struct replay *r = b ? BIO_get_data(b) : NULL;

	return r && r->off >= r->len && r->drained && !SSL_has_pending(ssl);
}

static int
replay_write(BIO *b, const char *in, int inl)
{
	(void)b; (void)in; (void)inl;
	return -1;
}

static long
replay_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct replay *r = BIO_get_data(b);

	(void)num; (void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return r ? (long)(r->len - r->off) : 0;
	default:
		return 0;
	}
}

static int
replay_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	return 1;
}

static void
replay_method_init(void)
{
	replay_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "jfe replay");
	if (replay_method == NULL)
		return;
	BIO_meth_set_read(replay_method, replay_read);
	BIO_meth_set_write(replay_method, replay_write);
	BIO_meth_set_ctrl(replay_method, replay_ctrl);
	BIO_meth_set_destroy(replay_method, replay_destroy);
}

int
tls_replay_consumed(SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);
	struct replay *r = b ? BIO_get_data(b) : NULL;

	return r == NULL || r->off >= r->len;
}

/* ---- contexts */

static int
client_hello_cb(SSL *s, int *al, void *arg)
{
	SSL_CTX *ctx = NULL;

	(void)al;
	(void)arg;
	switch (tls_conn_select(SSL_get_app_data(s), &ctx)) {
	case CERT_READY:
		SSL_set_SSL_CTX(s, ctx);
		SSL_CTX_free(ctx);
		break;
	case CERT_PENDING:
		/* The handshake pauses here; the connection resumes it when the name is ready. */
		return SSL_CLIENT_HELLO_RETRY;
	case CERT_NONE:
		break;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* No protocol is selected unless one needs it: jfe does not know what the service speaks. */
static int
alpn_select_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	const char *want = tls_conn_alpn(SSL_get_app_data(s));
	size_t wl = want ? strlen(want) : 0;

	(void)arg;
	for (unsigned i = 0; want && i < inlen; i += 1u + in[i])
		if (in[i] == wl && i + 1 + wl <= inlen && memcmp(in + i + 1, want, wl) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	return SSL_TLSEXT_ERR_NOACK;
}

int
tls_ctx_policy(SSL_CTX *ctx)
{
	static const unsigned char sid_ctx[] = "jfe";

	/* TLS 1.2 only with forward-secret AEAD suites; TLS 1.3's defaults are all AEAD. */
	static const char ciphers12[] =
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

	/* TLS 1.3 in Mozilla's "modern" order: AES-128-GCM costs a tenth less per byte than
	 * AES-256-GCM here and is as strong for this purpose; ChaCha20 first for clients that
	 * prefer it (no AES instructions: SSL_OP_PRIORITIZE_CHACHA). */
	static const char suites13[] =
	    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, ciphers12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, suites13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_ENABLE_KTLS);
	/* Whole records (and more) per read(): one system call per record instead of two. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Release idle read/write buffers: an idle TLS connection then costs little memory. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Stateless resumption only: tickets sealed with the rotating in-memory keys. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
	/* The same session context everywhere, so a ticket survives the switch from the first
	 * context to the name's own in the client-hello callback. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
	return 0;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A self-signed ECDSA P-256 certificate for <name>, served to clients without SNI, with an
 * IP-literal SNI, or for names that are not (yet) admitted. */
static int
fallback_make(const char *name, X509 **out_cert, EVP_PKEY **out_key)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *subj;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char san[300];

	if (key == NULL || x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	subj = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8, (const unsigned char *)"jfe fallback",
	    -1, -1, 0);
	X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1,
	    0);
	X509_set_issuer_name(x, subj);
	snprintf(san, sizeof(san), "DNS:%s", name);
	if (X509_set_pubkey(x, key) != 1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
	    add_ext(x, NID_subject_alt_name, san) != 0 ||
	    X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	*out_cert = x;
	*out_key = key;
	return 0;
fail:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

int
tls_front_init(struct tls_front *t, const char *hostname)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	memset(t, 0, sizeof(*t));
	pthread_once(&replay_once, replay_method_init);
	if (replay_method == NULL)
		goto fail;
	tls_ticket_rotate();
	tls_ticket_rotate();
	snprintf(t->fallback_name, sizeof(t->fallback_name), "%s", hostname);
	if (fallback_make(hostname, &cert, &key) != 0)
		goto fail;
	if ((t->fallback = SSL_CTX_new(TLS_server_method())) == NULL ||
	    tls_ctx_policy(t->fallback) != 0 ||
	    SSL_CTX_use_certificate(t->fallback, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(t->fallback, key) != 1)
		goto fail;
	/* The first context's client-hello callback runs for every handshake: it picks the
	 * certificate by name. */
	SSL_CTX_set_client_hello_cb(t->fallback, client_hello_cb, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
fail:
	log_err("tls: cannot set up the fallback certificate: %s",
	    ERR_reason_error_string(ERR_get_error()));
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(t->fallback);
	t->fallback = NULL;
	return -1;
}

void
tls_front_free(struct tls_front *t)
{
	SSL_CTX_free(t->fallback);
	t->fallback = NULL;
}

SSL *
tls_session_new(struct tls_front *t, int fd, const uint8_t *sniff, size_t len, void *app)
{
	struct replay *r = NULL;
	BIO *rb = NULL, *wb = NULL;
	SSL *ssl;

	if ((ssl = SSL_new(t->fallback)) == NULL)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL || (rb = BIO_new(replay_method)) == NULL ||
	    (wb = BIO_new_socket(fd, BIO_NOCLOSE)) == NULL)
		goto fail;
	r->buf = sniff;
	r->len = len;
	r->fd = fd;
	BIO_set_data(rb, r);
	r = NULL;
	BIO_set_init(rb, 1);
	SSL_set_bio(ssl, rb, wb);
	SSL_set_accept_state(ssl);
	SSL_set_app_data(ssl, app);
	return ssl;
fail:
	free(r);
	BIO_free(rb);
	BIO_free(wb);
	SSL_free(ssl);
	return NULL;
}
