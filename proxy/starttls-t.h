/* Types and bounds of the STARTTLS state machines (proxy/starttls.h). The machine's state is a
 * public, fixed-size struct so that the connection code can embed or allocate it as it likes;
 * only the files in proxy/starttls/ touch its fields (tests read <rewritten> and <discarded>). */
#ifndef JFE_STARTTLS_T_H
#define JFE_STARTTLS_T_H

#include <stddef.h>
#include <stdint.h>

/* Longest line held (CRLF included), and longest SMTP reply or MySQL greeting held whole. The
 * RFCs ask for far less (RFC 5321 §4.5.3.1: 512 for a reply line); generous but bounded. */
#define ST_MAX_LINE	4096
/* Most bytes a caller may pass to one feed. Together with ST_OUT_MIN this guarantees that what
 * one feed emits (at most one held line plus the feed plus jfe's own short insertions) fits. */
#define ST_FEED_MAX	(ST_MAX_LINE / 2)
/* Least capacity of each of the two output buffers (st_out.cap). */
#define ST_OUT_MIN	(2 * ST_MAX_LINE)
/* Longest MySQL packet payload relayed while sequence ids are being rewritten (the handshake and
 * authentication packets only; the command phase is passed through untouched). */
#define ST_MAX_PACKET	65536
/* Commands forwarded and not answered yet (SMTP, POP3); more in flight is treated as malformed. */
#define ST_MAX_PENDING	32
/* Longest IMAP tag jfe answers to or waits for. */
#define ST_TAG_MAX	128

enum st_proto {
	ST_PROTO_NONE,
	ST_PROTO_SMTP,
	ST_PROTO_IMAP,
	ST_PROTO_POP3,
	ST_PROTO_PG,
	ST_PROTO_MYSQL,
};

/* Output of a feed: bytes to send each way, and what to do next. */
enum st_verdict {
	ST_CONTINUE,	/* keep feeding */
	ST_START_TLS,	/* send to_server and to_client (in plaintext), then run the TLS handshake
			 * with the client; from then on the client's bytes are TLS records */
	ST_PASSTHROUGH,	/* send to_server and to_client, then relay everything untouched */
	ST_CLOSE,	/* protocol violation or overflow: close both (both lengths are 0) */
};

/* The caller owns both buffers and sets to_client, to_server and cap (>= ST_OUT_MIN) once;
 * every feed overwrites the other fields. */
struct st_out {
	uint8_t	*to_client;
	size_t	 to_client_len;
	uint8_t	*to_server;
	size_t	 to_server_len;
	size_t	 cap;			/* capacity of each buffer */
	/* Only meaningful with ST_START_TLS from starttls_from_client(): */
	size_t	 tls_early;		/* the last tls_early bytes of this feed's input are already
					 * the client's TLS stream: hand them to the TLS engine */
	int	 client_rest_is_tls;	/* 1: client bytes after the request (tls_early, then any the
					 * caller read but did not feed yet) are TLS (MySQL, whose
					 * client starts the handshake without waiting);
					 * 0: they are plaintext sent before the handshake and must
					 * be discarded (tls_early is then 0) */
};

/* ---- internals: for the files in proxy/starttls/ only ------------------------------------- */

enum st_phase {
	ST_PH_PLAIN,	/* plaintext, inspecting */
	ST_PH_WAIT,	/* the client asked for TLS; waiting for the replies to its earlier commands */
	ST_PH_TLS,	/* after ST_START_TLS: inspecting the first exchange inside TLS */
	ST_PH_DONE,	/* ST_PASSTHROUGH returned */
	ST_PH_DEAD,	/* ST_CLOSE returned */
};

/* Bytes held from one side: a partial line, the lines of an SMTP reply so far, a MySQL greeting
 * or packet header. [0, line) are complete lines kept for a reply not finished yet. */
struct st_buf {
	uint8_t	data[ST_MAX_LINE];
	size_t	len;
	size_t	line;
};

/* Kinds of the replies still owed by the server, oldest first. */
struct st_fifo {
	uint8_t		kind[ST_MAX_PENDING];
	unsigned	len;
};

struct st_smtp {
	struct st_fifo	pending;
};

struct st_imap {
	unsigned	outstanding;	/* the greeting, then tagged commands, not answered yet */
	uint8_t		greeted;	/* the server's greeting line was relayed */
	uint32_t	literal[2];	/* literal bytes still to pass, per side (enum st_dir) */
	uint8_t		cont[2];	/* the next line continues a line that announced a literal */
	uint8_t		first_sent;	/* TLS phase: the client's first command was forwarded */
	uint8_t		tag_len;
	char		tag[ST_TAG_MAX];	/* of STARTTLS, then of the first command in TLS */
};

struct st_pop3 {
	struct st_fifo	pending;
	uint8_t		in_multi;	/* inside the body of a multi-line answer */
};

struct st_pg {
	uint8_t		state;
	uint8_t		gss_refused;
};

struct st_mysql {
	uint8_t		state;
	uint8_t		srv_final;	/* the server packet being relayed is the final OK/ERR */
	uint8_t		srv_first;	/* its first payload byte has not been seen yet */
	uint32_t	srv_left;	/* payload bytes of the current server packet still to relay */
	uint32_t	cli_left;	/* same for the client */
	uint32_t	cli_off;	/* payload offset reached in the current client packet */
	uint8_t		cli_first;	/* the client packet being relayed is its HandshakeResponse */
};

struct starttls {
	enum st_proto	proto;
	enum st_phase	phase;
	int		rewritten;	/* either side has seen something the other did not send */
	uint64_t	discarded;	/* bytes dropped (pipelined before a TLS handshake) */
	struct st_buf	srv;		/* held bytes from the server */
	struct st_buf	cli;		/* held bytes from the client */
	union {
		struct st_smtp	smtp;
		struct st_imap	imap;
		struct st_pop3	pop3;
		struct st_pg	pg;
		struct st_mysql	mysql;
	} u;
};

#endif
