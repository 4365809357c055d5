/* STARTTLS state machines: jfe relays a plaintext SMTP, IMAP, POP3, PostgreSQL or MySQL session
 * between a client and a plaintext-only service, rewriting just enough that the client sees the
 * service offering TLS; when the client asks for it, jfe answers itself, the caller runs the TLS
 * handshake with the client, and the decrypted stream goes on to the service. A service that
 * offers TLS itself is passed through untouched.
 *
 * Pure: no I/O, no OpenSSL, no allocation, no globals; all state is in struct starttls
 * (proxy/starttls-t.h, fixed size, starttls_size()).
 *
 * Driving the machine (the caller, proxy/conn.c):
 *  1. Detect: starttls_detect_server() on the first bytes the server sent (server-first ports),
 *     starttls_detect_client() on the first bytes the client sent (PostgreSQL). Both return -1
 *     while the bytes so far are a valid prefix; they never look past what they need.
 *  2. starttls_init(s, proto), then feed the sniffed bytes themselves through the matching feed,
 *     and afterwards whatever arrives: bytes from the server to starttls_from_server(), bytes
 *     from the client to starttls_from_client(). At most ST_FEED_MAX bytes per call: feed a
 *     longer buffer in slices and stop at the first verdict other than ST_CONTINUE. Every feed
 *     consumes all its input (held bytes stay inside the machine, bounded by ST_MAX_LINE).
 *  3. After each feed send out->to_server to the server and out->to_client to the client, in
 *     that order of importance: both may be non-empty with any verdict except ST_CLOSE. Then:
 *     ST_CONTINUE    keep feeding.
 *     ST_START_TLS   after sending both, start the TLS handshake with the client. Client bytes
 *                    after the request: if out->client_rest_is_tls, the last out->tls_early
 *                    bytes of this input and any client bytes read but not fed yet are the
 *                    start of the TLS stream (give them to the TLS engine first); otherwise
 *                    discard them (plaintext pipelined after STARTTLS: CVE-2011-0411 class).
 *                    Server bytes read but not fed when the verdict came from a server feed:
 *                    discard them too. Do not read from the server during the handshake.
 *                    Once it is done, keep feeding: decrypted client bytes to
 *                    starttls_from_client() (to_server goes to the service in plaintext) and
 *                    server bytes to starttls_from_server() (to_client must be written through
 *                    TLS), until a verdict other than ST_CONTINUE.
 *     ST_PASSTHROUGH after sending both, relay everything untouched from now on, including bytes
 *                    already read but not fed (through TLS for the client if the handshake
 *                    was done). The machine holds nothing any more.
 *     ST_CLOSE       close both sides; nothing is to be sent.
 *  4. On EOF from either side while the machine still decides, call starttls_flush() to get the
 *     bytes it holds, send them, and handle the EOF as in pass-through.
 * The caller bounds the time a session may spend undecided (a client that never speaks keeps
 * the machine at ST_CONTINUE forever, as the service itself would). */
#ifndef JFE_STARTTLS_H
#define JFE_STARTTLS_H

#include "proxy/starttls-t.h"

#include <stddef.h>
#include <stdint.h>

size_t starttls_size(void);

/* Which protocol greets with buf[0..len)? 1 with *proto set; 0 if none (or an IMAP PREAUTH
 * greeting: no STARTTLS possible), *proto = ST_PROTO_NONE; -1 if the bytes so far are a valid
 * prefix of a known greeting. SMTP: "220" then SP or '-'. IMAP: "* OK ". POP3: "+OK" then SP or
 * a line end. MySQL: a whole, plausible protocol-10 handshake packet. */
int starttls_detect_server(const uint8_t *buf, size_t len, enum st_proto *proto);

/* Does the client open with a PostgreSQL SSLRequest or GSSENCRequest? 1 (*proto = ST_PROTO_PG),
 * 0 (ST_PROTO_NONE), -1 while buf is a proper prefix of one of them. */
int starttls_detect_client(const uint8_t *buf, size_t len, enum st_proto *proto);

void starttls_init(struct starttls *s, enum st_proto proto);

enum st_verdict starttls_from_server(struct starttls *s, const uint8_t *in, size_t len,
    struct st_out *out);
enum st_verdict starttls_from_client(struct starttls *s, const uint8_t *in, size_t len,
    struct st_out *out);

/* Emits every byte the machine holds (server's to to_client, client's to to_server) and moves
 * it to pass-through. For EOF on either side; returns ST_PASSTHROUGH (ST_CLOSE after a close). */
enum st_verdict starttls_flush(struct starttls *s, struct st_out *out);

const char *starttls_proto_name(enum st_proto p);

#endif
