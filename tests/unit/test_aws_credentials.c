/* Tests for providers/aws_credentials.c: the order of the chain (environment, credentials
 * file, config file, none), the INI reading of both files, and the refusals. Each test runs
 * against its own table of environment variables and files under a private temporary HOME,
 * never the process environment or the real ~/.aws. */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "providers/aws_credentials.h"
#include "tests/unit/unit.h"

#define SECRET1	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SECRET2	"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"

static char home[256];
static char cred_file[512], conf_file[512];

/* The environment of one test: "NAME=value" strings, NULL-terminated. HOME is always the
 * private directory (unless a test gives its own HOME first). */
static const char *env_table[32];

static const char *
table_get(void *arg, const char *name)
{
	const char *const *t = arg;
	size_t n = strlen(name);

	for (; *t != NULL; t++)
		if (strncmp(*t, name, n) == 0 && (*t)[n] == '=')
			return *t + n + 1;
	if (strcmp(name, "HOME") == 0)
		return home;
	return NULL;
}

/* Sets the environment to the given strings (NULL-terminated list). */
static const struct aws_env *
env(const char *first, ...)
{
	static struct aws_env e = { table_get, env_table };
	va_list ap;
	const char *s;
	size_t n = 0;

	va_start(ap, first);
	for (s = first; s != NULL && n < 31; s = va_arg(ap, const char *))
		env_table[n++] = s;
	va_end(ap);
	env_table[n] = NULL;
	return &e;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	UNIT_CHECK(f != NULL);
	if (f == NULL)
		return;
	UNIT_CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

#define WRITE(path, s)	write_file((path), (s), sizeof(s) - 1)

/* Every test starts with no files. */
static void
reset(void)
{
	unlink(cred_file);
	unlink(conf_file);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A short name for the calls below. */
static int
load(const struct aws_env *e, struct aws_credentials *c, struct aws_cred_info *info)
{
	return aws_credentials_load(e, c, info);
}

static void
check_creds(const struct aws_credentials *c, const char *id, const char *secret,
    const char *token)
{
	UNIT_CHECK_STR(c->access_key_id, id);
	UNIT_CHECK_STR(c->secret_access_key, secret);
	UNIT_CHECK_STR(c->session_token, token);
	UNIT_CHECK(c->expiration == 0);
}

static int
is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static const char default_creds[] =
    "[default]\n"
    "aws_access_key_id = AKIDFILEDEFAULT\n"
    "aws_secret_access_key = " SECRET2 "\n";

/* The environment wins over both files, and takes the token with it. */
static void
test_env_first(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file, default_creds);
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=" SECRET1,
	    "AWS_SESSION_TOKEN=tok+en/==", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_ENV);
	UNIT_CHECK_STR(aws_cred_source_name(info.source), "environment");
	UNIT_CHECK_STR(info.path, "");
	check_creds(&c, "AKIDENV", SECRET1, "tok+en/==");

	/* Without a token. */
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=" SECRET1,
	    NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_ENV);
	check_creds(&c, "AKIDENV", SECRET1, "");
}

/* One of the two keys is a misconfiguration, not a reason to try the next source; empty
 * values count as unset; a token alone is ignored. */
static void
test_env_partial(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file, default_creds);
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKIDENV", NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));
	UNIT_CHECK(load(env("AWS_SECRET_ACCESS_KEY=" SECRET1, NULL), &c, &info) == -1);
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", NULL), &c,
	    &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	UNIT_CHECK(load(env("AWS_SESSION_TOKEN=tok", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDFILEDEFAULT", SECRET2, "");
}

/* Values that cannot be AWS credentials (they go into HTTP headers). */
static void
test_env_invalid(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;
	static char longid[200];

	reset();
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKID ENV", "AWS_SECRET_ACCESS_KEY=" SECRET1,
	    NULL), &c, &info) == -1);
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=" SECRET1,
	    "AWS_SESSION_TOKEN=tok\r\nX-Injected: 1", NULL), &c, &info) == -1);
	memset(longid, 'A', sizeof(longid) - 1);
	memcpy(longid, "AWS_ACCESS_KEY_ID=", 18);
	UNIT_CHECK(load(env(longid, "AWS_SECRET_ACCESS_KEY=" SECRET1, NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));
}

static void
test_file_default(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "[other]\n"
	    "aws_access_key_id = AKIDOTHER\n"
	    "aws_secret_access_key = " SECRET1 "\n"
	    "[default]\n"
	    "aws_access_key_id = AKIDFILEDEFAULT\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "aws_session_token = FwoGZXIvYXdzEXAMPLE==\n"
	    "region = eu-west-1\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	UNIT_CHECK_STR(aws_cred_source_name(info.source), "credentials-file");
	UNIT_CHECK_STR(info.profile, "default");
	UNIT_CHECK_STR(info.path, cred_file);
	check_creds(&c, "AKIDFILEDEFAULT", SECRET2, "FwoGZXIvYXdzEXAMPLE==");
	UNIT_CHECK(info.imds_disabled == 0);
}

static void
test_file_named_profile(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "[default]\n"
	    "aws_access_key_id = AKIDFILEDEFAULT\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "[dns admin]\n"
	    "aws_access_key_id = AKIDDNSADMIN\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env("AWS_PROFILE=dns admin", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	UNIT_CHECK_STR(info.profile, "dns admin");
	check_creds(&c, "AKIDDNSADMIN", SECRET1, "");

	/* Section names are case-sensitive, as in the SDKs. */
	UNIT_CHECK(load(env("AWS_PROFILE=DNS admin", NULL), &c, &info) == -1);
	/* "[profile x]" in the credentials file is a profile named "profile x". */
	reset();
	WRITE(cred_file,
	    "[profile work]\n"
	    "aws_access_key_id = AKIDWORK\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env("AWS_PROFILE=work", NULL), &c, &info) == -1);
	UNIT_CHECK(load(env("AWS_PROFILE=profile work", NULL), &c, &info) == 0);
	check_creds(&c, "AKIDWORK", SECRET1, "");
}

/* A missing default profile is "none"; a missing named one is an error. */
static void
test_missing_profile(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "[work]\n"
	    "aws_access_key_id = AKIDWORK\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
	UNIT_CHECK_STR(aws_cred_source_name(info.source), "none");
	UNIT_CHECK(is_zero(&c, sizeof(c)));
	UNIT_CHECK(load(env("AWS_PROFILE=nope", NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));
	UNIT_CHECK(load(env("AWS_PROFILE=bad]name", NULL), &c, &info) == -1);
	UNIT_CHECK(load(env("AWS_PROFILE=bad\nname", NULL), &c, &info) == -1);

	/* A default profile with no keys (region only) is not an error either. */
	WRITE(cred_file, "[default]\nregion = us-east-1\noutput = json\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
	/* ...nor is a named one that exists without keys: it was found. */
	UNIT_CHECK(load(env("AWS_PROFILE=default", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
}

static void
test_crlf_bom(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "\xef\xbb\xbf[default]\r\n"
	    "aws_access_key_id = AKIDCRLF\r\n"
	    "aws_secret_access_key = " SECRET1 "\r\n"
	    "aws_session_token = tok\r\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDCRLF", SECRET1, "tok");

	/* No newline at the end of the file. */
	WRITE(cred_file, "[default]\naws_secret_access_key=" SECRET2 "\naws_access_key_id=AKIDEOF");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	check_creds(&c, "AKIDEOF", SECRET2, "");
}

/* Whole-line comments with '#' and ';', comments after a section header, none inside values
 * (';' and '#' can be part of a secret), spaces and tabs anywhere around. */
static void
test_comments_spaces(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "# leading comment\n"
	    "; another\n"
	    "\n"
	    "  [ default ]   # trailing comment\n"
	    "   # indented comment\n"
	    "aws_access_key_id\t=\tAKIDSPACES   \n"
	    "\t; [other]\n"
	    "aws_secret_access_key=abc;def#ghi\n"
	    "AWS_Session_Token   =    x=y\n"
	    "[other] ; comment\n"
	    "aws_access_key_id = AKIDOTHER\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDSPACES", "abc;def#ghi", "x=y");

	/* Junk after ']' makes the header malformed: its keys are not taken. */
	WRITE(cred_file,
	    "[default] junk\n"
	    "aws_access_key_id = AKIDJUNK\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
}

/* The last value wins, within a section and across repeated sections; an empty value
 * unsets. */
static void
test_duplicates(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "[default]\n"
	    "aws_access_key_id = AKIDFIRST\n"
	    "aws_secret_access_key = " SECRET1 "\n"
	    "aws_access_key_id = AKIDSECOND\n"
	    "aws_session_token = tok1\n"
	    "[other]\n"
	    "aws_secret_access_key = nope\n"
	    "[default]\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "aws_session_token =\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	check_creds(&c, "AKIDSECOND", SECRET2, "");
}

/* A huge line elsewhere is skipped; inside the profile in use it is an error; a value too
 * long for its field is an error, never truncated; a huge file is refused. */
static void
test_huge_lines(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;
	static char big[200000];
	char *p;
	size_t n;
	FILE *f;

	reset();
	p = big;
	p += sprintf(p, "[other]\nkey = ");
	memset(p, 'x', 100000);
	p += 100000;
	p += sprintf(p, "\n[default]\naws_access_key_id = AKIDAFTERHUGE\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	write_file(cred_file, big, (size_t)(p - big));
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDAFTERHUGE", SECRET1, "");

	p = big;
	p += sprintf(p, "[default]\naws_access_key_id = AKIDHUGE\n"
	    "aws_secret_access_key = " SECRET1 "\n# ");
	memset(p, 'x', 100000);
	p += 100000;
	*p++ = '\n';
	write_file(cred_file, big, (size_t)(p - big));
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));

	/* The bound is exact: AWS_INI_LINE_MAX bytes (CRLF not counted) pass in the profile in
	 * use, one more does not. */
	for (n = AWS_INI_LINE_MAX; n <= AWS_INI_LINE_MAX + 1; n++) {
		p = big;
		p += sprintf(p, "[default]\r\naws_access_key_id = AKIDBOUND\r\n"
		    "aws_secret_access_key = " SECRET1 "\r\n#");
		memset(p, 'x', n - 1);
		p += n - 1;
		p += sprintf(p, "\r\naws_session_token = tok\r\n");
		write_file(cred_file, big, (size_t)(p - big));
		if (n == AWS_INI_LINE_MAX) {
			UNIT_CHECK(load(env(NULL), &c, &info) == 0);
			check_creds(&c, "AKIDBOUND", SECRET1, "tok");
		} else
			UNIT_CHECK(load(env(NULL), &c, &info) == -1);
	}

	/* A value too long for its field is refused, not cut. */
	WRITE(cred_file, "[default]\naws_access_key_id = AKID\naws_secret_access_key = "
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);

	/* More than 1 MiB: refused, whatever it holds. */
	if ((f = fopen(cred_file, "wb")) != NULL) {
		memset(big, '#', sizeof(big));
		for (n = 0; n < 200000; n += 100)
			big[n] = '\n';
		for (n = 0; n < 6; n++)
			fwrite(big, 1, sizeof(big), f);
		fclose(f);
	}
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);
}

/* ~/.aws/config: "[profile name]" sections, "[default]" (or "[profile default]") for the
 * default profile, other sections ignored. */
static void
test_config_file(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(conf_file,
	    "[default]\n"
	    "region = us-east-1\n"
	    "aws_access_key_id = AKIDCONFDEFAULT\n"
	    "aws_secret_access_key = " SECRET1 "\n"
	    "[profile  work]\n"
	    "aws_access_key_id = AKIDCONFWORK\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "aws_session_token = conftok\n"
	    "s3 =\n"
	    "    max_concurrent_requests = 20\n"
	    "[plain]\n"
	    "aws_access_key_id = AKIDPLAIN\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "[sso-session my-sso]\n"
	    "sso_region = us-east-1\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CONFIG_FILE);
	UNIT_CHECK_STR(aws_cred_source_name(info.source), "config-file");
	UNIT_CHECK_STR(info.path, conf_file);
	check_creds(&c, "AKIDCONFDEFAULT", SECRET1, "");
	UNIT_CHECK(load(env("AWS_PROFILE=work", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CONFIG_FILE);
	check_creds(&c, "AKIDCONFWORK", SECRET2, "conftok");
	/* "[plain]" is not a profile in the config file. */
	UNIT_CHECK(load(env("AWS_PROFILE=plain", NULL), &c, &info) == -1);

	WRITE(conf_file,
	    "[profile default]\n"
	    "aws_access_key_id = AKIDPROFDEFAULT\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	check_creds(&c, "AKIDPROFDEFAULT", SECRET1, "");

	/* Indentation: keys indented alike are keys, deeper ones continue the one before. */
	WRITE(conf_file,
	    "[default]\n"
	    "  aws_access_key_id = AKIDINDENT\n"
	    "  aws_secret_access_key = " SECRET1 "\n"
	    "      aws_session_token = continuation-not-a-key\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	check_creds(&c, "AKIDINDENT", SECRET1, "");
}

/* Environment, then credentials file, then config file; a profile without keys in the
 * credentials file does not hide the config file's. */
static void
test_precedence(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(cred_file,
	    "[default]\n"
	    "aws_access_key_id = AKIDCRED\n"
	    "aws_secret_access_key = " SECRET1 "\n"
	    "[work]\n"
	    "region = eu-west-1\n");
	WRITE(conf_file,
	    "[default]\n"
	    "aws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = " SECRET2 "\n"
	    "[profile work]\n"
	    "aws_access_key_id = AKIDCONFWORK\n"
	    "aws_secret_access_key = " SECRET2 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDCRED", SECRET1, "");
	UNIT_CHECK(load(env("AWS_PROFILE=work", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CONFIG_FILE);
	check_creds(&c, "AKIDCONFWORK", SECRET2, "");
	UNIT_CHECK(load(env("AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=" SECRET1,
	    "AWS_PROFILE=work", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_ENV);
	check_creds(&c, "AKIDENV", SECRET1, "");
}

/* The override variables, with "~/" expanded; missing files are empty, not errors;
 * unreadable ones are errors. */
static void
test_paths_and_missing_files(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;
	char alt[600], alt_env[640];

	reset();
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
	UNIT_CHECK_STR(info.profile, "default");

	snprintf(alt, sizeof(alt), "%s/alt-credentials", home);
	WRITE(alt, default_creds);
	snprintf(alt_env, sizeof(alt_env), "AWS_SHARED_CREDENTIALS_FILE=%s", alt);
	UNIT_CHECK(load(env(alt_env, NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	UNIT_CHECK_STR(info.path, alt);
	UNIT_CHECK(load(env("AWS_SHARED_CREDENTIALS_FILE=~/alt-credentials", NULL), &c,
	    &info) == 0);
	UNIT_CHECK_STR(info.path, alt);
	check_creds(&c, "AKIDFILEDEFAULT", SECRET2, "");
	UNIT_CHECK(load(env("AWS_CONFIG_FILE=~/alt-credentials", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CONFIG_FILE);	/* [default] reads in both */
	unlink(alt);

	UNIT_CHECK(load(env("AWS_SHARED_CREDENTIALS_FILE=/nonexistent/credentials",
	    "AWS_CONFIG_FILE=/nonexistent/config", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
	/* No HOME and no override: the files are not looked for at all. */
	UNIT_CHECK(load(env("HOME=", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE);
	/* Present but unreadable (a directory): an error, not "none". */
	UNIT_CHECK(load(env("AWS_SHARED_CREDENTIALS_FILE=/", NULL), &c, &info) == -1);
}

/* A profile that needs what jfe does not do, or with half a key pair, is an error. */
static void
test_unusable_profiles(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	WRITE(conf_file,
	    "[profile assume]\n"
	    "role_arn = arn:aws:iam::123456789012:role/dns\n"
	    "source_profile = default\n"
	    "[profile proc]\n"
	    "credential_process = /usr/bin/get-creds\n");
	UNIT_CHECK(load(env("AWS_PROFILE=assume", NULL), &c, &info) == -1);
	UNIT_CHECK(load(env("AWS_PROFILE=proc", NULL), &c, &info) == -1);
	/* role_arn in the config file wins over keys in the credentials file in the SDKs. */
	WRITE(cred_file,
	    "[assume]\n"
	    "aws_access_key_id = AKIDASSUME\n"
	    "aws_secret_access_key = " SECRET1 "\n"
	    "[proc]\n"
	    "aws_access_key_id = AKIDPROC\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env("AWS_PROFILE=assume", NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));
	/* ...but static keys win over credential_process. */
	UNIT_CHECK(load(env("AWS_PROFILE=proc", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_CREDENTIALS_FILE);
	check_creds(&c, "AKIDPROC", SECRET1, "");
	WRITE(conf_file, "[sso-session x]\nsso_start_url = https://example.test/start\n"
	    "[default]\nsso_session = x\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);

	/* Half a key pair; an unreadable config file even when the credentials file has keys
	 * (the SDKs read both). */
	reset();
	WRITE(cred_file,
	    "[default]\n"
	    "aws_access_key_id = AKIDHALF\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);
	WRITE(cred_file, "[default]\naws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);
	WRITE(cred_file, default_creds);
	UNIT_CHECK(load(env("AWS_CONFIG_FILE=/", NULL), &c, &info) == -1);
	UNIT_CHECK(is_zero(&c, sizeof(c)));
	WRITE(cred_file,
	    "[default]\n"
	    "aws_access_key_id = AKID/SLASH\n"
	    "aws_secret_access_key = " SECRET1 "\n");
	UNIT_CHECK(load(env(NULL), &c, &info) == -1);
}

static void
test_imds_disabled(void)
{
	struct aws_credentials c;
	struct aws_cred_info info;

	reset();
	UNIT_CHECK(load(env("AWS_EC2_METADATA_DISABLED=true", NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_NONE && info.imds_disabled == 1);
	UNIT_CHECK(load(env("AWS_EC2_METADATA_DISABLED=TRUE", NULL), &c, &info) == 0);
	UNIT_CHECK(info.imds_disabled == 1);
	UNIT_CHECK(load(env("AWS_EC2_METADATA_DISABLED=false", NULL), &c, &info) == 0);
	UNIT_CHECK(info.imds_disabled == 0);
	UNIT_CHECK(load(env("AWS_EC2_METADATA_DISABLED=1", NULL), &c, &info) == 0);
	UNIT_CHECK(info.imds_disabled == 0);
	UNIT_CHECK(load(env(NULL), &c, &info) == 0);
	UNIT_CHECK(info.imds_disabled == 0);
	/* Reported with every source. */
	UNIT_CHECK(load(env("AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=AKIDENV",
	    "AWS_SECRET_ACCESS_KEY=" SECRET1, NULL), &c, &info) == 0);
	UNIT_CHECK(info.source == AWS_CRED_ENV && info.imds_disabled == 1);
	/* The process environment lookup is plain getenv(). */
	UNIT_CHECK(aws_env_getenv(NULL, "JFE_SURELY_UNSET_VARIABLE") == NULL);
}

int
main(void)
{
	char dir[300];
	int rc;

	log_init("test_aws_credentials", 0);
	snprintf(home, sizeof(home), "/tmp/jfe-awscred.XXXXXX");
	if (mkdtemp(home) == NULL) {
		perror("mkdtemp");
		printf("FAIL: test_aws_credentials.c:setup\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/.aws", home);
	snprintf(cred_file, sizeof(cred_file), "%s/credentials", dir);
	snprintf(conf_file, sizeof(conf_file), "%s/config", dir);
	if (mkdir(dir, 0700) == -1) {
		perror("mkdir");
		printf("FAIL: test_aws_credentials.c:setup\n");
		return 1;
	}
	UNIT_RUN(test_env_first);
	UNIT_RUN(test_env_partial);
	UNIT_RUN(test_env_invalid);
	UNIT_RUN(test_file_default);
	UNIT_RUN(test_file_named_profile);
	UNIT_RUN(test_missing_profile);
	UNIT_RUN(test_crlf_bom);
	UNIT_RUN(test_comments_spaces);
	UNIT_RUN(test_duplicates);
	UNIT_RUN(test_huge_lines);
	UNIT_RUN(test_config_file);
	UNIT_RUN(test_precedence);
	UNIT_RUN(test_paths_and_missing_files);
	UNIT_RUN(test_unusable_profiles);
	UNIT_RUN(test_imds_disabled);
	rc = unit_summary();
	nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
