/* Admission: suffix lists, public-suffix grouping, and the issuance budgets across a restart
 * and across identities. */
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/limits.h"
#include "agent/store.h"
#include "tests/unit/unit.h"

static char dir[] = "/tmp/jfe-adm-XXXXXX";

static void
test_suffix_match(void)
{
	UNIT_CHECK(admission_suffix_match("example.com", "example.com"));
	UNIT_CHECK(admission_suffix_match("www.example.com", "example.com"));
	UNIT_CHECK(admission_suffix_match("a.b.example.com", "example.com."));
	UNIT_CHECK(!admission_suffix_match("badexample.com", "example.com"));
	UNIT_CHECK(!admission_suffix_match("example.com.evil", "example.com"));
	UNIT_CHECK(!admission_suffix_match("example.com", "*.example.com"));
	UNIT_CHECK(admission_suffix_match("x.example.com", "*.example.com"));
	UNIT_CHECK(admission_suffix_match("x.example.com", ".example.com"));
	UNIT_CHECK(!admission_suffix_match("com", "example.com"));
	UNIT_CHECK(!admission_suffix_match("x.example.com", ""));
}

static void
test_psl_grouping(void)
{
	struct admission_config cfg = { .max_orders = 5 };
	struct admission *a = admission_new(&cfg, NULL, NULL);
	char out[256];

	UNIT_CHECK(a != NULL);
	if (a == NULL)
		return;
	admission_registered_domain(a, "www.example.com", out, sizeof(out));
	UNIT_CHECK_STR(out, "example.com");
	admission_registered_domain(a, "a.b.c.example.co.uk", out, sizeof(out));
	UNIT_CHECK_STR(out, "example.co.uk");
	/* Names under a private-section suffix are grouped per customer, not per provider. */
	admission_registered_domain(a, "x.alice.github.io", out, sizeof(out));
	UNIT_CHECK_STR(out, "alice.github.io");
	admission_registered_domain(a, "x.bob.github.io", out, sizeof(out));
	UNIT_CHECK_STR(out, "bob.github.io");
	admission_free(a);
}

static int
rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static void
test_budgets_persist(void)
{
	struct limits_config lc = { .per_hour = 3, .per_day = 5, .per_domain_week = 2,
	    .per_client_hour = 2 };
	struct store *s = store_fs_open(dir);
	struct limits *l;
	const char *why = NULL;
	unsigned retry = 0;
	time_t now = 1700000000;

	UNIT_CHECK(s != NULL);
	if (s == NULL)
		return;
	l = limits_new(&lc, s, "i-1");
	UNIT_CHECK(limits_take(l, "a.com", now, &why, &retry) == 0);
	UNIT_CHECK(limits_take(l, "a.com", now, &why, &retry) == 0);
	/* The domain's weekly budget is spent; another domain still has the hourly budget. */
	UNIT_CHECK(limits_take(l, "a.com", now, &why, &retry) == -1);
	UNIT_CHECK(strstr(why, "registered domain") != NULL && retry > 3600);
	UNIT_CHECK(limits_take(l, "b.com", now, &why, &retry) == 0);
	UNIT_CHECK(limits_take(l, "c.com", now, &why, &retry) == -1);
	UNIT_CHECK(strstr(why, "hourly") != NULL && retry > 0 && retry <= 1200);
	limits_free(l);

	/* A restart of the same instance keeps the spent budget... */
	l = limits_new(&lc, s, "i-1");
	UNIT_CHECK(limits_take(l, "c.com", now + 10, &why, &retry) == -1);
	/* ...and it refills with time: one token per 20 minutes at 3 per hour. */
	UNIT_CHECK(limits_take(l, "c.com", now + 1201, &why, &retry) == 0);
	limits_free(l);

	/* Another instance booted from the same cache starts fresh and does not touch i-1's. */
	l = limits_new(&lc, s, "i-2");
	UNIT_CHECK(limits_take(l, "a.com", now, &why, &retry) == 0);
	limits_free(l);

	/* i-2's spending neither refilled nor spent i-1's: still empty right after +1201. */
	l = limits_new(&lc, s, "i-1");
	UNIT_CHECK(limits_take(l, "x.com", now + 1202, &why, &retry) == -1);
	UNIT_CHECK(strstr(why, "hourly") != NULL);
	limits_free(l);

	l = limits_new(&lc, s, "i-3");
	UNIT_CHECK(limits_client(l, "192.0.2.1", now) == 0);
	UNIT_CHECK(limits_client(l, "192.0.2.1", now) == 0);
	UNIT_CHECK(limits_client(l, "192.0.2.1", now) == -1);
	UNIT_CHECK(limits_client(l, "192.0.2.2", now) == 0);
	limits_free(l);
	store_close(s);
}

int
main(void)
{
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	UNIT_RUN(test_suffix_match);
	UNIT_RUN(test_psl_grouping);
	UNIT_RUN(test_budgets_persist);
	rc = unit_summary();
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
