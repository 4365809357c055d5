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
 *  1. Detect: starttls_detect_server() on the bytes the server sent first (server-first ports),
 *     starttls_detect_client() on the bytes the client sent first (PostgreSQL). Both return -1
 *     while the bytes so far are a valid prefix of something they know; the caller bounds that
 *     wait (sniff buffer, timer).
 *  2. starttls_init(s, proto), then feed the sniffed bytes themselves (they were not relayed
 *     yet), and afterwards whatever arrives: server bytes to starttls_from_server(), client
 *     bytes to starttls_from_client(). At most ST_FEED_MAX bytes per call: a longer buffer is fed
 *     in slices, stopping at the first verdict other than ST_CONTINUE. A feed always consumes
 *     all of its input (partial lines and headers stay inside, bounded by ST_MAX_LINE).
 *  3. After every feed, send out->to_server to the server and out->to_client to the client
 *     (either may be non-empty with any verdict but ST_CLOSE), then:
 *     ST_CONTINUE    keep feeding.
 *     ST_START_TLS   send both in plaintext, then run the TLS handshake with the client, as for
 *                    a connection that opened with a ClientHello (SNI, certificate...). The
 *                    client bytes that follow the request: if out->client_rest_is_tls, the last
 *                    out->tls_early bytes of this feed's input, then any client bytes read but
 *                    not fed, are the start of the client's TLS stream (MySQL); otherwise they
 *                    are plaintext pipelined after STARTTLS and are discarded (CVE-2011-0411).
 *                    When the verdict came from a server feed, server bytes read but not fed
 *                    are discarded too. Feed nothing from the server until the handshake is
 *                    done (the service waits for the client anyway). Then keep feeding: the
 *                    decrypted client bytes to starttls_from_client() (to_server goes to the
 *                    service in plaintext), server bytes to starttls_from_server() (to_client
 *                    is written through TLS), until a verdict other than ST_CONTINUE.
 *     ST_PASSTHROUGH send both, then relay everything untouched from now on, bytes read but not
 *                    fed included (through TLS on the client side if it was started). The
 *                    machine holds nothing any more.
 *     ST_CLOSE       close both sides; both lengths are 0.
 *  4. On EOF from either side while the machine is still deciding, starttls_flush() hands back
 *     the bytes it holds (send them), and the connection goes on as a pass-through one.
 * A session may stay at ST_CONTINUE for as long as the client and the service talk within the
 * inspected commands (a client that never asks for TLS and never sends a command that ends the
 * inspection); each side's held bytes stay within ST_MAX_LINE all the same. */
#ifndef JFE_STARTTLS_H
#define JFE_STARTTLS_H

#include "proxy/starttls-t.h"

#include <stddef.h>
#include <stdint.h>

size_t starttls_size(void);

/* Which protocol greets with buf[0..len)? 1 with *proto set; 0 if none (or an IMAP PREAUTH
 * greeting: no STARTTLS possible), *proto = ST_PROTO_NONE; -1 if the bytes so far are a valid
 * prefix of a known greeting. SMTP: "220" then SP or '-'. IMAP: "* OK ". POP3: "+OK" then SP or
 * a line end. MySQL: a whole, plausible protocol-10 handshake packet (-1 until it is whole). */
int starttls_detect_server(const uint8_t *buf, size_t len, enum st_proto *proto);

/* Does the client open with a PostgreSQL SSLRequest or GSSENCRequest? 1 (*proto = ST_PROTO_PG),
 * 0 (ST_PROTO_NONE), -1 while buf is a proper prefix of one of them. */
int starttls_detect_client(const uint8_t *buf, size_t len, enum st_proto *proto);

void starttls_init(struct starttls *s, enum st_proto proto);

enum st_verdict starttls_from_server(struct starttls *s, const uint8_t *in, size_t len,
    struct st_out *out);
enum st_verdict starttls_from_client(struct starttls *s, const uint8_t *in, size_t len,
    struct st_out *out);

/* Emits every byte the machine holds (the server's to to_client, the client's to to_server)
 * and moves it to pass-through. For EOF on either side; returns ST_PASSTHROUGH (ST_CLOSE after a
 * close). */
enum st_verdict starttls_flush(struct starttls *s, struct st_out *out);

const char *starttls_proto_name(enum st_proto p);

#endif
