/* The persistent store: the ACME accounts, the certificates (key, full chain and metadata as
 * one unit) and small JSON state blobs, plus the per-name issuance lock.
 *
 * The interface is an ops table so that a distributed fleet store can replace the local
 * filesystem one (store_fs_open) without touching the callers. A backend allocates a struct
 * whose first member is a struct store (and, for locks, a struct store_lock) and fills in
 * <ops>; the store_* wrappers below check the arguments (names, keys, NULLs) and clear the
 * output pointers before they call the backend, so every backend sees the same policy.
 *
 * Return values: loads are 0 found, 1 absent, -1 error; the rest 0 / -1 unless stated below;
 * -1 always comes with the reason logged. Nothing read or written is ever logged.
 *
 * Certificate names are what the certificate is for: "www.example.com", or "*.example.com"
 * for a wildcard. They are attacker-influenced (SNI), so only canonical names are accepted:
 * lowercase LDH labels (a-z, 0-9, '-', not at either end of a label, 1 to 63 characters)
 * separated by single dots, optionally preceded by "*.", at most 253 characters in all. Upper
 * case is REJECTED, not folded: lowercase the SNI before asking, so that one certificate
 * never has two spellings. A name that fails this never reaches the filesystem. (One more
 * limit: a wildcard's directory "_wildcard.<rest>" must fit NAME_MAX, so "*.<rest>" is
 * refused when <rest> exceeds 245 characters.)
 *
 * Strings returned by the loads are malloc'd and NUL-terminated. They may hold private keys
 * (the certificate key, the account key): the caller must wipe them before freeing, with
 * store_secret_free() (explicit_bzero + free) or OPENSSL_clear_free(p, strlen(p)).
 *
 * All functions may be called from several threads at once, and several processes may share
 * one store directory. */
#ifndef JFE_STORE_H
#define JFE_STORE_H

#include <stddef.h>

/* Largest file the store reads or writes (per file of a unit, per state blob). */
#define STORE_MAX_FILE (1024 * 1024)
/* Longest certificate name (RFC 1035 presentation form without the final dot). */
#define STORE_NAME_MAX 253
/* Longest state key. */
#define STORE_KEY_MAX 64

struct store;
struct store_lock;

struct store_ops {
	void (*close)(struct store *s);
	int (*account_load)(struct store *s, const char *directory_url, char **key_pem,
	    char **account_json);
	int (*account_save)(struct store *s, const char *directory_url, const char *key_pem,
	    const char *account_json);
	int (*cert_save)(struct store *s, const char *name, const char *key_pem,
	    const char *chain_pem, const char *meta_json);
	int (*cert_load)(struct store *s, const char *name, char **key_pem, char **chain_pem,
	    char **meta_json);
	int (*cert_list)(struct store *s, char ***names, size_t *n);
	int (*cert_remove)(struct store *s, const char *name);
	int (*lock)(struct store *s, const char *name, struct store_lock **out);
	void (*unlock)(struct store_lock *l);
	int (*state_load)(struct store *s, const char *key, char **json);
	int (*state_save)(struct store *s, const char *key, const char *json);
};

struct store {
	const struct store_ops *ops;
};

struct store_lock {
	const struct store_ops *ops;
};

/* Opens the store in <dir>, creating it (mode 0700; its parent must exist) and its
 * subdirectories when missing, and removes what an interrupted write left behind (temporary
 * files, version directories nothing points at) for every unit no other process is writing.
 * Refuses a <dir> not owned by the effective user or writable by group or others. NULL (logged)
 * on failure.
 *
 * Layout, for the curious operator (everything is 0700 / 0600 but the public certificate
 * files and state blobs, 0644):
 *   account/<h>/current -> v-<16 hex>/{directory_url,key.pem,account.json}
 *       <h>: the first 16 hex digits of SHA-256(directory URL)
 *   certs/<name>/current -> v-<16 hex>/{key.pem,fullchain.pem,meta.json}
 *       <name>: "_wildcard.example.com" for "*.example.com"
 *   state/<key>.json
 *   locks/<kind>-<32 hex>.lock
 *       empty flock(2) files named by a hash of what they lock; they exist while held (a
 *       process killed while holding one leaves it behind until the next open) */
struct store *store_fs_open(const char *dir);

/* Closes <s> (NULL is fine). Locks taken from it must be released first. */
void store_close(struct store *s);

/* The account (private key PEM and the caller's account JSON, e.g. the account URL) for the
 * ACME directory at <directory_url>; the two are saved and loaded as one unit. */
int store_account_load(struct store *s, const char *directory_url, char **key_pem,
    char **account_json);
int store_account_save(struct store *s, const char *directory_url, const char *key_pem,
    const char *account_json);

/* The certificate unit for <name>: private key PEM, full chain PEM (leaf first) and the
 * caller's metadata JSON. A save replaces the whole unit atomically: after a crash at any
 * moment a load returns either the complete old unit or the complete new one. Saves of one
 * name are serialized internally, so no lock is needed for consistency; store_lock() is
 * about not ordering the same certificate twice.
 *
 * A failed save (-1: full disk, I/O error...) leaves the old unit as it was, with one
 * exception, logged as such: when only the final fsync of the directory fails, the new unit
 * is already in place (and loads) but may not survive a crash. The same goes for the account
 * and the state blobs. */
int store_cert_save(struct store *s, const char *name, const char *key_pem,
    const char *chain_pem, const char *meta_json);
int store_cert_load(struct store *s, const char *name, char **key_pem, char **chain_pem,
    char **meta_json);

/* Stores in <*names> (sorted, possibly NULL when <*n> is 0) the names of every stored
 * certificate. Free with store_names_free(). */
int store_cert_list(struct store *s, char ***names, size_t *n);
void store_names_free(char **names, size_t n);

/* Removes the certificate unit <name>: 0 removed, 1 there was none, -1 error. Atomic like a
 * save (a load sees the whole unit or nothing). */
int store_cert_remove(struct store *s, const char *name);

/* The issuance lock for <name>, so that two processes (later, two instances of a fleet) never
 * order the same certificate at once. Non-blocking: 0 acquired (<*out> set), 1 held elsewhere,
 * -1 error. Two store_lock() calls for one name conflict even inside one process (or thread).
 * The lock lives until store_unlock() or the death of the process. A child forked while it is
 * held shares it (its own store_lock() still gets 1), and store_unlock() in either process
 * releases it for both: call it in one of them only. Release every lock before
 * store_close(). */
int store_lock(struct store *s, const char *name, struct store_lock **out);
void store_unlock(struct store_lock *l);

/* Small JSON state blobs (rate-limit budgets, back-off) by <key>: 1 to STORE_KEY_MAX
 * characters of [a-z0-9_-]. A save replaces the blob atomically. */
int store_state_load(struct store *s, const char *key, char **json);
int store_state_save(struct store *s, const char *key, const char *json);

/* 1 when <name> is a certificate name the store accepts (see above), else 0. Logs nothing. */
int store_name_ok(const char *name);

/* Wipes and frees a string returned by a load (NULL is fine). */
void store_secret_free(char *p);

#endif
