/* The AWS credentials chain's synchronous sources: environment, credentials file, config
 * file. See providers/aws_credentials.h for the rules. */
#include "providers/aws_credentials.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "agent/log.h"

/* Real credential files are a few hundred bytes; this only bounds a wrong path. */
#define AWS_INI_FILE_MAX	(1024 * 1024)

/* What one profile of one file holds. */
struct ini_profile {
	struct aws_credentials	 c;
	int			 found;		/* the section exists */
	int			 has_key_id;
	int			 has_secret;
	int			 has_token;
	const char		*preferred;	/* one of preferred_keys[], or NULL */
	int			 has_process;	/* credential_process */
};

/* Keys of the providers the SDKs try before a profile's static keys (assume role, web
 * identity, SSO): with one of them the profile stands for another identity than its keys,
 * and jfe, which makes no STS or SSO calls, must not quietly sign with the keys instead.
 * credential_process, tried after the static keys, only matters in a profile without. */
static const char *const preferred_keys[] = {
	"role_arn", "sso_account_id", "sso_role_name", "sso_session", "sso_start_url",
	"web_identity_token_file",
};

const char *
aws_env_getenv(void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

const char *
aws_cred_source_name(enum aws_cred_source s)
{
	switch (s) {
	case AWS_CRED_ENV:
		return "environment";
	case AWS_CRED_CREDENTIALS_FILE:
		return "credentials-file";
	case AWS_CRED_CONFIG_FILE:
		return "config-file";
	case AWS_CRED_NONE:
		break;
	}
	return "none";
}

/* <name> from <env>, NULL when unset or empty. */
static const char *
env_get(const struct aws_env *env, const char *name)
{
	const char *v = env->get(env->arg, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int
is_key_id_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static int
is_visible(char ch)
{
	return ch > 0x20 && ch < 0x7f;
}

/* Copies the credential value <v> (<vlen> bytes) into <dst> after checking it: the values go
 * into HTTP headers, and anything outside their character set is a corrupt source. <what>
 * and <where> only name things in the log; the value never appears. */
static int
set_value(char *dst, size_t dstsz, const char *v, size_t vlen, int (*ok)(char),
    const char *what, const char *where)
{
	size_t i;

	if (vlen >= dstsz) {
		log_err("aws credentials: %s in %s is too long (%zu bytes, at most %zu)", what,
		    where, vlen, dstsz - 1);
		return -1;
	}
	for (i = 0; i < vlen; i++)
		if (!ok(v[i])) {
			log_err("aws credentials: %s in %s has an invalid character at offset %zu",
			    what, where, i);
			return -1;
		}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

/* Source 1. 1: found, 0: not there, -1: unusable. */
static int
from_env(const struct aws_env *env, struct aws_credentials *c)
{
	const char *id = env_get(env, "AWS_ACCESS_KEY_ID");
	const char *secret = env_get(env, "AWS_SECRET_ACCESS_KEY");
	const char *token = env_get(env, "AWS_SESSION_TOKEN");

	if (id == NULL && secret == NULL) {
		if (token != NULL)
			log_warn("aws credentials: AWS_SESSION_TOKEN is set without "
			    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; ignored");
		return 0;
	}
	if (id == NULL || secret == NULL) {
		log_err("aws credentials: %s is set without %s", id ? "AWS_ACCESS_KEY_ID" :
		    "AWS_SECRET_ACCESS_KEY", id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	if (set_value(c->access_key_id, sizeof(c->access_key_id), id, strlen(id),
	    is_key_id_char, "AWS_ACCESS_KEY_ID", "the environment") == -1 ||
	    set_value(c->secret_access_key, sizeof(c->secret_access_key), secret,
	    strlen(secret), is_visible, "AWS_SECRET_ACCESS_KEY", "the environment") == -1 ||
	    (token != NULL && set_value(c->session_token, sizeof(c->session_token), token,
	    strlen(token), is_visible, "AWS_SESSION_TOKEN", "the environment") == -1))
		return -1;
	return 1;
}

/* <dst> (PATH_MAX) = the file named by <override_var>, with a leading "~/" expanded, or else
 * $HOME/<rel>. 0, or -1 when there is no way to name it (no HOME): then the file is skipped,
 * as the SDKs do. */
static int
file_path(const struct aws_env *env, const char *override_var, const char *rel, char *dst)
{
	const char *o = env_get(env, override_var), *home = env_get(env, "HOME");
	int n;

	if (o != NULL && strncmp(o, "~/", 2) != 0)
		n = snprintf(dst, PATH_MAX, "%s", o);
	else if (home == NULL) {
		log_debug("aws credentials: HOME is not set, no %s", o ? o : rel);
		return -1;
	} else if (o != NULL)
		n = snprintf(dst, PATH_MAX, "%s/%s", home, o + 2);
	else
		n = snprintf(dst, PATH_MAX, "%s/%s", home, rel);
	if (n < 0 || n >= PATH_MAX) {
		log_warn("aws credentials: the path of %s is too long; skipped",
		    o ? override_var : rel);
		return -1;
	}
	return 0;
}

/* A name that can be a section header and can be logged: visible ASCII and inner spaces,
 * no brackets. */
static int
profile_name_ok(const char *p, size_t max)
{
	size_t i, n = strlen(p);

	if (n == 0 || n >= max || p[0] == ' ' || p[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((!is_visible(p[i]) && p[i] != ' ') || p[i] == '[' || p[i] == ']')
			return 0;
	return 1;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Whether the section header <name> (trimmed, between the brackets) is <profile>: verbatim in
 * the credentials file; "profile <profile>" in the config file, or "default" for the
 * default profile. */
static int
section_is(const char *name, const char *profile, int is_config)
{
	if (!is_config)
		return strcmp(name, profile) == 0;
	if (strcmp(profile, "default") == 0 && strcmp(name, "default") == 0)
		return 1;
	if (strncmp(name, "profile", 7) != 0 || (name[7] != ' ' && name[7] != '\t'))
		return 0;
	name += 7;
	while (*name == ' ' || *name == '\t')
		name++;
	return strcmp(name, profile) == 0;
}

/* Handles one "key = value" line of the profile in use. */
static int
profile_key(struct ini_profile *ip, const char *key, const char *val, const char *where)
{
	char *dst;
	size_t dstsz, i;
	int *has, (*ok)(char);

	if (strcasecmp(key, "aws_access_key_id") == 0) {
		dst = ip->c.access_key_id;
		dstsz = sizeof(ip->c.access_key_id);
		has = &ip->has_key_id;
		ok = is_key_id_char;
	} else if (strcasecmp(key, "aws_secret_access_key") == 0) {
		dst = ip->c.secret_access_key;
		dstsz = sizeof(ip->c.secret_access_key);
		has = &ip->has_secret;
		ok = is_visible;
	} else if (strcasecmp(key, "aws_session_token") == 0) {
		dst = ip->c.session_token;
		dstsz = sizeof(ip->c.session_token);
		has = &ip->has_token;
		ok = is_visible;
	} else {
		for (i = 0; i < sizeof(preferred_keys) / sizeof(preferred_keys[0]); i++)
			if (strcasecmp(key, preferred_keys[i]) == 0)
				ip->preferred = preferred_keys[i];
		if (strcasecmp(key, "credential_process") == 0)
			ip->has_process = 1;
		return 0;
	}
	if (*has)
		log_warn("aws credentials: %s: %s given again; the last one is used", where,
		    key);
	/* An empty value is no value: it cannot sign anything, and "aws_session_token ="
	 * clears a token given earlier. */
	OPENSSL_cleanse(dst, dstsz);
	*has = 0;
	if (val[0] == '\0')
		return 0;
	if (set_value(dst, dstsz, val, strlen(val), ok, key, where) == -1)
		return -1;
	*has = 1;
	return 0;
}

/* Reads one line of <f> into <line> (AWS_INI_LINE_MAX + 2 bytes), without its LF or CRLF.
 * 1: a line, <*overlong> set if it did not fit (the rest of it is consumed); 0: end of file;
 * -1: the file is larger than AWS_INI_FILE_MAX (counted in <*total>), which also stops a
 * path such as /dev/zero from keeping the daemon reading forever. */
static int
read_line(FILE *f, char *line, size_t *total, int *overlong)
{
	size_t len = 0;
	int ch, any = 0;

	*overlong = 0;
	while ((ch = getc(f)) != EOF) {
		any = 1;
		if (++*total > AWS_INI_FILE_MAX)
			return -1;
		if (ch == '\n')
			break;
		/* One byte more than the bound: the CR of a CRLF, or proof of an overflow. */
		if (len <= AWS_INI_LINE_MAX)
			line[len++] = (char)ch;
		else
			*overlong = 1;
	}
	if (len > 0 && line[len - 1] == '\r' && !*overlong)
		len--;
	if (len > AWS_INI_LINE_MAX)
		*overlong = 1;
	line[len] = '\0';
	return any;
}

/* Reads profile <profile> of the INI file <path> into <ip>. 0 (a missing file is an empty
 * one), or -1 (logged). */
static int
ini_read(const char *path, const char *profile, int is_config, struct ini_profile *ip)
{
	char *line = NULL, *t, *eq, *close, where[PATH_MAX + 32];
	size_t lineno = 0, total = 0;
	size_t indent, key_indent = 0;
	int in_profile = 0, after_key = 0, overlong, r, rc = -1;
	FILE *f = NULL;

	memset(ip, 0, sizeof(*ip));
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR) {
			log_debug("aws credentials: no %s", path);
			return 0;
		}
		log_err("aws credentials: %s: %s", path, strerror(errno));
		return -1;
	}
	if ((line = malloc(AWS_INI_LINE_MAX + 2)) == NULL) {
		log_err("aws credentials: out of memory");
		goto fail;
	}
	while ((r = read_line(f, line, &total, &overlong)) == 1) {
		lineno++;
		if (overlong) {
			if (in_profile) {
				log_err("aws credentials: %s line %zu is longer than %d bytes, in "
				    "profile %s", path, lineno, AWS_INI_LINE_MAX, profile);
				goto fail;
			}
			log_warn("aws credentials: %s line %zu is longer than %d bytes; skipped",
			    path, lineno, AWS_INI_LINE_MAX);
			continue;
		}
		t = line;
		if (lineno == 1 && strncmp(t, "\xef\xbb\xbf", 3) == 0)
			t += 3;
		indent = strspn(t, " \t");
		t = trim(t);
		if (*t == '\0' || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			after_key = 0;
			in_profile = 0;
			if ((close = strchr(t, ']')) == NULL || (*trim(close + 1) != '\0' &&
			    *trim(close + 1) != '#' && *trim(close + 1) != ';')) {
				log_warn("aws credentials: %s line %zu: malformed section header; "
				    "its keys are ignored", path, lineno);
				continue;
			}
			*close = '\0';
			if (section_is(trim(t + 1), profile, is_config)) {
				in_profile = 1;
				ip->found = 1;
			}
			continue;
		}
		/* A line indented deeper than the key before it continues that key's value
		 * (nested settings such as "s3 =", as configparser reads them); none of the
		 * keys read here has such a form. */
		if (after_key && indent > key_indent)
			continue;
		if ((eq = strchr(t, '=')) == NULL) {
			log_warn("aws credentials: %s line %zu: not \"key = value\"; ignored", path,
			    lineno);
			after_key = 0;
			continue;
		}
		after_key = 1;
		key_indent = indent;
		if (!in_profile)
			continue;
		*eq = '\0';
		snprintf(where, sizeof(where), "%s line %zu", path, lineno);
		if (profile_key(ip, trim(t), trim(eq + 1), where) == -1)
			goto fail;
	}
	if (r == -1) {
		log_err("aws credentials: %s is larger than %d bytes", path, AWS_INI_FILE_MAX);
		goto fail;
	}
	if (ferror(f)) {
		log_err("aws credentials: reading %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = 0;
fail:
	if (line != NULL) {
		OPENSSL_cleanse(line, AWS_INI_LINE_MAX + 2);
		free(line);
	}
	if (f != NULL)
		fclose(f);
	if (rc == -1)
		OPENSSL_cleanse(ip, sizeof(*ip));
	return rc;
}

/* The keys of profile <profile> as read from <path> into <ip>: 1 a complete pair (copied to
 * <c>), 0 none, -1 (logged) half a pair. */
static int
profile_keys(const struct ini_profile *ip, const char *profile, const char *path,
    struct aws_credentials *c)
{
	if (!ip->found)
		return 0;
	if (ip->has_key_id != ip->has_secret) {
		log_err("aws credentials: profile %s in %s has %s without %s", profile, path,
		    ip->has_key_id ? "aws_access_key_id" : "aws_secret_access_key",
		    ip->has_key_id ? "aws_secret_access_key" : "aws_access_key_id");
		return -1;
	}
	if (!ip->has_key_id) {
		if (ip->has_token)
			log_warn("aws credentials: profile %s in %s has aws_session_token without "
			    "keys; ignored", profile, path);
		return 0;
	}
	*c = ip->c;
	c->expiration = 0;
	return 1;
}

int
aws_credentials_load(const struct aws_env *env, struct aws_credentials *c,
    struct aws_cred_info *info)
{
	struct ini_profile icred, iconf;
	const char *profile, *v, *pref;
	char cred_path[PATH_MAX], conf_path[PATH_MAX];
	int have_cred, have_conf, r, explicit, rc = -1;

	memset(c, 0, sizeof(*c));
	memset(info, 0, sizeof(*info));
	memset(&icred, 0, sizeof(icred));
	memset(&iconf, 0, sizeof(iconf));
	if (env == NULL || env->get == NULL) {
		log_err("aws credentials: no environment lookup");
		goto fail;
	}
	v = env_get(env, "AWS_EC2_METADATA_DISABLED");
	info->imds_disabled = v != NULL && strcasecmp(v, "true") == 0;

	if ((r = from_env(env, c)) == -1)
		goto fail;
	if (r == 1) {
		info->source = AWS_CRED_ENV;
		rc = 0;
		goto fail;
	}

	explicit = (profile = env_get(env, "AWS_PROFILE")) != NULL;
	if (!explicit)
		profile = "default";
	if (!profile_name_ok(profile, sizeof(info->profile))) {
		log_err("aws credentials: AWS_PROFILE is not a usable profile name");
		goto fail;
	}
	snprintf(info->profile, sizeof(info->profile), "%s", profile);

	/* Both files are read before deciding: the SDKs merge a profile's two halves, and a
	 * role_arn in the config file overrides keys in the credentials file. */
	have_cred = file_path(env, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials",
	    cred_path) == 0;
	have_conf = file_path(env, "AWS_CONFIG_FILE", ".aws/config", conf_path) == 0;
	if ((have_cred && ini_read(cred_path, profile, 0, &icred) == -1) ||
	    (have_conf && ini_read(conf_path, profile, 1, &iconf) == -1))
		goto fail;
	if (!icred.found && !iconf.found) {
		/* A profile asked for by name and absent is a typo, not "no credentials". */
		if (explicit) {
			log_err("aws credentials: AWS_PROFILE=%s, but no such profile in %s or %s",
			    profile, have_cred ? cred_path : "(no credentials file)",
			    have_conf ? conf_path : "(no config file)");
			goto fail;
		}
		info->source = AWS_CRED_NONE;
		rc = 0;
		goto fail;
	}
	if ((pref = icred.preferred ? icred.preferred : iconf.preferred) != NULL) {
		log_err("aws credentials: profile %s uses %s, which jfe does not support (it "
		    "signs with static keys only)", profile, pref);
		goto fail;
	}
	if ((r = profile_keys(&icred, profile, have_cred ? cred_path : "", c)) == -1)
		goto fail;
	if (r == 1) {
		info->source = AWS_CRED_CREDENTIALS_FILE;
		snprintf(info->path, sizeof(info->path), "%s", cred_path);
		rc = 0;
		goto fail;
	}
	if ((r = profile_keys(&iconf, profile, have_conf ? conf_path : "", c)) == -1)
		goto fail;
	if (r == 1) {
		info->source = AWS_CRED_CONFIG_FILE;
		snprintf(info->path, sizeof(info->path), "%s", conf_path);
		rc = 0;
		goto fail;
	}
	if (icred.has_process || iconf.has_process) {
		log_err("aws credentials: profile %s uses credential_process, which jfe does not "
		    "support (it signs with static keys only)", profile);
		goto fail;
	}
	info->source = AWS_CRED_NONE;
	rc = 0;
fail:
	OPENSSL_cleanse(&icred, sizeof(icred));
	OPENSSL_cleanse(&iconf, sizeof(iconf));
	if (rc == -1) {
		OPENSSL_cleanse(c, sizeof(*c));
		info->source = AWS_CRED_NONE;
		info->path[0] = '\0';
	}
	return rc;
}
