/* Shared pieces of the STARTTLS machines (the files in proxy/starttls/): line buffering, output,
 * the common verdict paths, and the per-protocol entry points common.c dispatches to. */
#ifndef JFE_STARTTLS_COMMON_H
#define JFE_STARTTLS_COMMON_H

#include "proxy/starttls.h"

#include <stddef.h>
#include <stdint.h>

/* Which side a feed came from; also the index of per-side arrays. */
enum st_dir { ST_FROM_SERVER = 0, ST_FROM_CLIENT = 1 };

/* ---- output ---- */
int st_to_client(struct st_out *out, const void *p, size_t n);
int st_to_server(struct st_out *out, const void *p, size_t n);
/* Towards the other side of <dir>: to the client for bytes from the server and vice versa. */
int st_forward(struct st_out *out, enum st_dir dir, const void *p, size_t n);
int st_forward_str(struct st_out *out, enum st_dir dir, const char *str);

/* ---- held bytes ---- */
void st_buf_reset(struct st_buf *b);
/* Moves bytes of in[0..n) into b up to and including the first '\n'. *used is what was taken.
 * 1: b ends with a complete line, at [b->line, b->len); 0: all of in was taken, no line end
 * yet; -1: the line would not fit (nothing taken). */
int st_take_line(struct st_buf *b, const uint8_t *in, size_t n, size_t *used);
/* Moves up to <want> - b->len bytes into b; 1 when b holds <want> bytes, else 0. */
int st_take_exact(struct st_buf *b, size_t want, const uint8_t *in, size_t n, size_t *used);
int st_emit_buf(struct st_out *out, enum st_dir dir, struct st_buf *b);

/* ---- line parsing (lines as held: p[0..n) with the line end) ---- */
size_t st_body_len(const uint8_t *p, size_t n);		/* without CRLF or LF */
int st_is_digit(uint8_t c);
/* 1 if p[0..n) starts with <prefix>, ASCII case-insensitively. */
int st_prefix_ci(const uint8_t *p, size_t n, const char *prefix);
/* 1 if the first word of p[0..n) (up to SP, TAB or the end) is <word>, case-insensitively. */
int st_word_is(const uint8_t *p, size_t n, const char *word);
/* 1 if p[0..n) has nothing but SP/TAB after its first word. */
int st_word_alone(const uint8_t *p, size_t n);

/* ---- reply queues ---- */
void st_fifo_clear(struct st_fifo *f);
int st_fifo_push(struct st_fifo *f, uint8_t kind);	/* -1 when full */
int st_fifo_pop(struct st_fifo *f);			/* -1 when empty */

/* ---- verdict paths ---- */
/* Emits everything held from both sides, then rest[0..n) (the unparsed tail of a feed from
 * <dir>) towards the other side: ST_PASSTHROUGH (ST_CLOSE if the output is full). */
enum st_verdict st_passthrough(struct starttls *s, enum st_dir dir, const uint8_t *rest,
    size_t n, struct st_out *out);
/* Input the machine cannot follow: pass through if nobody has seen a rewritten byte yet,
 * else close. <why> is logged with the bytes held from <dir>. */
/* Splits the client's bytes into command lines and hands each to <command> (with the bytes
 * after it, for the pass-through and discard paths), until a verdict other than ST_CONTINUE
 * or the end of the input; line-based protocols (SMTP, POP3) share it. */
typedef enum st_verdict (*st_command_fn)(struct starttls *s, const uint8_t *rest, size_t n,
    struct st_out *out);
enum st_verdict st_client_lines(struct starttls *s, const uint8_t *in, size_t n,
    struct st_out *out, st_command_fn command);
enum st_verdict st_malformed(struct starttls *s, enum st_dir dir, const uint8_t *rest,
    size_t n, struct st_out *out, const char *why);
enum st_verdict st_fail(struct starttls *s, const char *why);
/* Drops n bytes from <dir> sent before a TLS handshake (never forwarded, never interpreted). */
void st_discard(struct starttls *s, enum st_dir dir, size_t n);
/* Debug log line, <data> escaped. */
void st_log(const struct starttls *s, const char *what, const uint8_t *data, size_t n);

/* ---- protocols ---- */
void st_smtp_init(struct starttls *s);
enum st_verdict st_smtp_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out);
int st_smtp_detect(const uint8_t *buf, size_t len);

void st_imap_init(struct starttls *s);
enum st_verdict st_imap_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out);
int st_imap_detect(const uint8_t *buf, size_t len);

void st_pop3_init(struct starttls *s);
enum st_verdict st_pop3_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out);
int st_pop3_detect(const uint8_t *buf, size_t len);

void st_pg_init(struct starttls *s);
enum st_verdict st_pg_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out);
int st_pg_detect(const uint8_t *buf, size_t len);

void st_mysql_init(struct starttls *s);
enum st_verdict st_mysql_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out);
int st_mysql_detect(const uint8_t *buf, size_t len);

/* Compares buf[0..len) with the literal <lit>: 1 all of lit matched, -1 buf is a proper prefix
 * of lit, 0 they differ. Case-insensitive if <ci>. */
int st_match_prefix(const uint8_t *buf, size_t len, const char *lit, int ci);

#endif
