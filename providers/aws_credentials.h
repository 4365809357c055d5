/* The synchronous part of the AWS credentials chain, in the SDKs' order (aws-c-auth's default
 * chain, botocore):
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN;
 *   2. the shared credentials file, AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
 *      section [<profile>];
 *   3. the config file, AWS_CONFIG_FILE or ~/.aws/config, section [profile <profile>] (the
 *      default profile is [default] there, [profile default] is accepted too);
 * with <profile> = AWS_PROFILE or "default", and the keys aws_access_key_id,
 * aws_secret_access_key, aws_session_token. When none of them has credentials the source is
 * "none" and the caller goes on to the instance role (IMDS, asynchronous, providers/imds.h)
 * unless AWS_EC2_METADATA_DISABLED is "true" (any case), which is reported, not acted on.
 *
 * The files are INI as the SDKs read them: "[section]" lines (a comment may follow the ']'),
 * "key = value" lines (spaces around '=' optional, key names case-insensitive, the value is
 * everything after the '=', trimmed: no inline comments, since ';' and '#' are legal in
 * values), whole-line comments starting with '#' or ';', CRLF or LF, a UTF-8 BOM, unknown
 * keys ignored, and so are continuation lines (indented deeper than the key line before
 * them, as configparser reads them). A key given twice in one profile, or a profile given
 * twice in one file, is merged: the last value wins (logged). Lines are bounded
 * (AWS_INI_LINE_MAX): a longer line is skipped with a warning outside the profile in use,
 * and is an error inside it, since the line might have been one of its keys. A file larger
 * than 1 MiB is an error (a wrong path such as /dev/zero must not hang the daemon).
 *
 * Both files are read before deciding, since the SDKs merge the two halves of a profile:
 * keys in the credentials file win over keys in the config file, and a role_arn in either
 * wins over both.
 *
 * Failing loudly instead of falling through to the next source (which would quietly run
 * jfe with another identity, often the instance role's): -1 (logged) when a source is
 * present but unusable: only one of the key id and the secret (environment or profile), a
 * value too long or with characters no AWS key has, AWS_PROFILE naming a profile that
 * neither file has, a profile using role_arn, web_identity_token_file or sso_* (which the
 * SDKs prefer to static keys, and jfe makes no STS or SSO calls) or credential_process
 * without static keys, or a file that exists but cannot be read.
 *
 * Nothing secret is logged; buffers that held file lines are cleansed. */
#ifndef JFE_AWS_CREDENTIALS_H
#define JFE_AWS_CREDENTIALS_H

#include <limits.h>

#include "providers/sigv4.h"

#define AWS_PROFILE_NAME_MAX	128	/* bytes, NUL included */
#define AWS_INI_LINE_MAX	8192	/* bytes of one line, without its line end */

/* The environment the chain reads. <get> returns the value of <name>, or NULL when it is
 * unset; an empty value counts as unset, as in the SDKs. Tests pass their own table; the
 * daemon passes { aws_env_getenv, NULL }. */
struct aws_env {
	const char	*(*get)(void *arg, const char *name);
	void		 *arg;
};

/* getenv(3), for struct aws_env. */
const char *aws_env_getenv(void *arg, const char *name);

enum aws_cred_source {
	AWS_CRED_NONE = 0,		/* nothing here: try the instance role next */
	AWS_CRED_ENV,
	AWS_CRED_CREDENTIALS_FILE,
	AWS_CRED_CONFIG_FILE,
};

struct aws_cred_info {
	enum aws_cred_source	source;
	int			imds_disabled;	/* AWS_EC2_METADATA_DISABLED=true */
	char			profile[AWS_PROFILE_NAME_MAX];	/* the one looked for */
	char			path[PATH_MAX];	/* the file used, "" for env and none */
};

/* Runs the chain with <env>. 0: <info->source> says where <c> came from (<c> zeroed for
 * AWS_CRED_NONE; expiration is always 0, these are long-term or caller-managed keys), and
 * <info->imds_disabled> is set whatever the source. -1 (logged): see above; <c> is zeroed.
 * The caller cleanses <c> when done with it (OPENSSL_cleanse). */
int aws_credentials_load(const struct aws_env *env, struct aws_credentials *c,
    struct aws_cred_info *info);

/* "environment", "credentials-file", "config-file" or "none". */
const char *aws_cred_source_name(enum aws_cred_source s);

#endif
