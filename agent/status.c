#include "agent/status.h"

#include "agent/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STATUS_MAX (4 * 1024 * 1024)

static int
status_fetch(const char *path, char **out)
{
	struct sockaddr_un sun;
	struct timeval tv = { .tv_sec = 5 };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "jfe status: --control-socket: path too long\n");
		return 1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		close(fd);
		if (e == ENOENT || e == ECONNREFUSED) {
			fprintf(stderr, "jfe status: jfe is not running (no daemon at %s)\n", path);
			return 3;
		}
		fprintf(stderr, "jfe status: %s: %s\n", path, strerror(e));
		return 1;
	}
	if (write(fd, "status\n", 7) != 7)
		goto fail;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 16384;
			if (cap > STATUS_MAX || (nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == 0)
			break;
		if (n < 0)
			goto fail;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return 0;
fail:
	fprintf(stderr, "jfe status: no answer from %s: %s\n", path, strerror(errno));
	close(fd);
	free(buf);
	return 1;
}

static json_int_t
jint(json_t *o, const char *path)
{
	char key[64];
	const char *p = path;

	/* "a.b.c" */
	while (o && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n >= sizeof(key))
			return 0;
		memcpy(key, p, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		p += n + (dot ? 1 : 0);
	}
	return json_integer_value(o);
}

static void
human_bytes(json_int_t v, char *buf, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 4) {
		d /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", d, u[i]);
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && *v ? v : "-";
}

/* Identity, admission budgets and refusals, the DNS provider: what decides whether a new name
 * gets a certificate. */
static void
status_print_admission(json_t *j)
{
	json_t *adm = json_object_get(j, "admission");
	json_t *id = json_object_get(adm, "identity"), *b = json_object_get(adm, "budgets");
	json_t *rc = json_object_get(adm, "refused"), *dns = json_object_get(adm, "dns_provider");
	json_t *refused = json_object_get(j, "refused"), *v;
	const char *k;
	size_t i;
	int first = 1;

	if (id) {
		printf("\nIdentity\n");
		printf("  instance  %s (%s%s)\n", jstr(id, "identity"), jstr(id, "source"),
		    json_is_true(json_object_get(id, "signature_verified")) ?
		    ", signature verified" : "");
		if (strcmp(jstr(id, "account_id"), "-") != 0)
			printf("  cloud     %s, account %s, region %s\n", jstr(id, "instance_id"),
			    jstr(id, "account_id"), jstr(id, "region"));
		printf("  public   ");
		json_array_foreach(json_object_get(id, "public_addresses"), i, v)
			printf(" %s", json_string_value(v));
		printf("%s\n", json_array_size(json_object_get(id, "public_addresses")) ? "" :
		    " (none known)");
	}
	if (b || rc) {
		printf("\nAdmission\n");
		if (b)
			printf("  budget    %lld of %lld new names this hour, %lld of %lld today\n",
			    (long long)jint(b, "hour.left"), (long long)jint(b, "hour.of"),
			    (long long)jint(b, "day.left"), (long long)jint(b, "day.of"));
		if (rc) {
			printf("  decided   %lld admitted; refused:", (long long)jint(rc, "admitted"));
			json_object_foreach(rc, k, v) {
				if (strcmp(k, "admitted") == 0 || json_integer_value(v) == 0)
					continue;
				printf("%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
				first = 0;
			}
			printf("%s\n", first ? " none" : "");
		}
		json_array_foreach(refused, i, v) {
			char esc[300];
			const char *name = json_string_value(json_object_get(v, "name"));

			/* Names come from clients: escaped before they reach a terminal. */
			log_escape(esc, sizeof(esc), name ? name : "", name ? strlen(name) : 0);
			printf("  refused   %-40s %s (retry in %llds)\n", esc, jstr(v, "reason"),
			    (long long)jint(v, "retry_in_s"));
		}
	}
	if (dns) {
		printf("\nDNS provider\n");
		printf("  %-9s %s, %s%s%s\n", jstr(dns, "provider"), jstr(dns, "endpoint"),
		    json_is_true(json_object_get(dns, "healthy")) ? "healthy" : "UNHEALTHY",
		    strcmp(jstr(dns, "last_error"), "-") ? ": " : "",
		    strcmp(jstr(dns, "last_error"), "-") ? jstr(dns, "last_error") : "");
	}
}

static void
status_print_human(json_t *j)
{
	json_t *ic = json_object_get(j, "interception");
	json_t *certs = json_object_get(j, "certificates");
	json_t *orders = json_object_get(j, "orders");
	char b1[32], b2[32];
	size_t i;
	json_t *v;

	printf("jfe %s, pid %lld, up %llds\n", json_string_value(json_object_get(j, "version")),
	    (long long)jint(j, "pid"), (long long)jint(j, "uptime_s"));
	printf("\nInterception\n");
	printf("  rules     %s (table inet jfe)   routes %s\n",
	    json_is_true(json_object_get(ic, "rules_installed")) ? "installed" : "MISSING",
	    json_is_true(json_object_get(ic, "routes_installed")) ? "installed" : "MISSING");
	printf("  ports     %s", json_string_value(json_object_get(ic, "ports")));
	if (json_string_value(json_object_get(ic, "exclude_ports")))
		printf(" except %s", json_string_value(json_object_get(ic, "exclude_ports")));
	printf(" (22 never)\n");
	printf("  listener  127.0.0.1:%lld [::1]:%lld, %lld workers, source %s%s%s%s, %s\n",
	    (long long)jint(ic, "listen_port"), (long long)jint(ic, "listen_port"),
	    (long long)jint(ic, "workers"),
	    json_is_true(json_object_get(ic, "preserve_source")) ? "preserved" : "host address",
	    json_is_true(json_object_get(ic, "preserve_source")) ? " (return path: " : "",
	    json_is_true(json_object_get(ic, "preserve_source")) ?
	    jstr(ic, "return_path") : "",
	    json_is_true(json_object_get(ic, "preserve_source")) ? ")" : "",
	    json_is_true(json_object_get(ic, "fail_closed")) ? "fail-closed" : "fail-open");
	if (json_string_value(json_object_get(ic, "run_as")))
		printf("  runs as   %s\n", json_string_value(json_object_get(ic, "run_as")));
	printf("\nTraffic\n");
	printf("  active    %lld TLS, %lld STARTTLS, %lld pass-through, %lld sniffing\n",
	    (long long)jint(j, "traffic.active.tls"), (long long)jint(j, "traffic.active.starttls"),
	    (long long)jint(j, "traffic.active.plain"),
	    (long long)jint(j, "traffic.active.sniffing"));
	printf("  total     %lld TLS, %lld STARTTLS, %lld pass-through (%lld accepted)\n",
	    (long long)jint(j, "traffic.total.tls"), (long long)jint(j, "traffic.total.starttls"),
	    (long long)jint(j, "traffic.total.plain"), (long long)jint(j, "traffic.accepted"));
	human_bytes(jint(j, "traffic.bytes_client_to_service"), b1, sizeof(b1));
	human_bytes(jint(j, "traffic.bytes_service_to_client"), b2, sizeof(b2));
	printf("  bytes     %s to services, %s to clients\n", b1, b2);
	printf("  failures  %lld handshakes, %lld upstream connects, %lld accepts\n",
	    (long long)jint(j, "traffic.handshake_failures"),
	    (long long)jint(j, "traffic.upstream_failures"),
	    (long long)jint(j, "traffic.accept_errors"));
	printf("  kTLS      %lld connections encrypted by the kernel\n",
	    (long long)jint(j, "traffic.ktls_tx"));
	human_bytes(jint(j, "memory.rss_kib") * 1024, b1, sizeof(b1));
	human_bytes(jint(j, "memory.heap_bytes"), b2, sizeof(b2));
	printf("  memory    %s resident, %s in use on the heap\n", b1, b2);
	printf("\nCertificates\n");
	if (json_array_size(certs) == 0)
		printf("  (none yet: the fallback certificate is served)\n");
	json_array_foreach(certs, i, v)
		printf("  %-40s %s  expires %s  renews %s\n",
		    json_string_value(json_object_get(v, "name")),
		    json_string_value(json_object_get(v, "issuer")),
		    json_string_value(json_object_get(v, "not_after")),
		    json_string_value(json_object_get(v, "renew_at")));
	if (json_array_size(orders)) {
		printf("\nOrders in flight\n");
		json_array_foreach(orders, i, v)
			printf("  %-40s %s\n", json_string_value(json_object_get(v, "name")),
			    json_string_value(json_object_get(v, "state")));
	}
	status_print_admission(j);
}

/* Prometheus text exposition (version 0.0.4) of the same status document. */
static void
metric(const char *name, const char *type, const char *help, const char *labels, json_int_t v,
    int header)
{
	if (header)
		printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	printf("%s%s%s%s %lld\n", name, labels ? "{" : "", labels ? labels : "", labels ? "}" : "",
	    (long long)v);
}

static void
status_print_metrics(json_t *j)
{
	/* "sniffing" last: it has no total. */
	static const char *const kinds[] = { "tls", "starttls", "plain", "tls_passthrough",
	    "sniffing" };
	const size_t nkinds = sizeof(kinds) / sizeof(kinds[0]);
	json_t *certs = json_object_get(j, "certificates"), *v, *ref;
	const char *k;
	char lab[400];
	size_t i;
	int first;

	metric("jfe_up", "gauge", "1 while the daemon answers.", NULL, 1, 1);
	metric("jfe_uptime_seconds", "gauge", "Seconds since the daemon started.", NULL,
	    jint(j, "uptime_s"), 1);
	first = 1;
	for (i = 0; i < nkinds; i++) {
		char path[64];

		snprintf(lab, sizeof(lab), "kind=\"%s\"", kinds[i]);
		snprintf(path, sizeof(path), "traffic.active.%s", kinds[i]);
		metric("jfe_connections_active", "gauge", "Connections now, by kind.", lab,
		    jint(j, path), first);
		first = 0;
	}
	first = 1;
	for (i = 0; i + 1 < nkinds; i++) {
		char path[64];

		snprintf(lab, sizeof(lab), "kind=\"%s\"", kinds[i]);
		snprintf(path, sizeof(path), "traffic.total.%s", kinds[i]);
		metric("jfe_connections_total", "counter", "Connections since start, by kind.", lab,
		    jint(j, path), first);
		first = 0;
	}
	metric("jfe_bytes_total", "counter", "Bytes relayed, by direction.",
	    "direction=\"to_service\"", jint(j, "traffic.bytes_client_to_service"), 1);
	metric("jfe_bytes_total", "counter", NULL, "direction=\"to_client\"",
	    jint(j, "traffic.bytes_service_to_client"), 0);
	metric("jfe_handshake_failures_total", "counter", "TLS handshakes that failed.", NULL,
	    jint(j, "traffic.handshake_failures"), 1);
	metric("jfe_ktls_tx_total", "counter",
	    "TLS connections whose sending the kernel took over (kTLS).", NULL,
	    jint(j, "traffic.ktls_tx"), 1);
	metric("jfe_upstream_failures_total", "counter", "Connections to services that failed.",
	    NULL, jint(j, "traffic.upstream_failures"), 1);
	metric("jfe_memory_resident_bytes", "gauge", "Resident memory of the daemon.", NULL,
	    jint(j, "memory.rss_kib") * 1024, 1);
	metric("jfe_memory_heap_bytes", "gauge", "Heap memory in use (allocated, not freed).",
	    NULL, jint(j, "memory.heap_bytes"), 1);
	metric("jfe_certificates", "gauge", "Certificates held.", NULL,
	    (json_int_t)json_array_size(certs), 1);
	first = 1;
	json_array_foreach(certs, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		struct tm tm;

		memset(&tm, 0, sizeof(tm));
		if (name == NULL || strptime(json_string_value(json_object_get(v, "not_after")) ?: "",
		    "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
			continue;
		/* Names are host names (LDH), safe inside a label value. */
		snprintf(lab, sizeof(lab), "name=\"%s\"", name);
		metric("jfe_certificate_expiry_timestamp_seconds", "gauge",
		    "When each certificate expires (Unix time).", lab, (json_int_t)timegm(&tm), first);
		first = 0;
	}
	metric("jfe_orders_in_flight", "gauge", "ACME orders in progress.", NULL,
	    (json_int_t)json_array_size(json_object_get(j, "orders")), 1);
	ref = json_object_get(json_object_get(j, "admission"), "refused");
	first = 1;
	json_object_foreach(ref, k, v) {
		if (strcmp(k, "admitted") == 0)
			continue;
		snprintf(lab, sizeof(lab), "reason=\"%s\"", k);
		metric("jfe_names_refused_total", "counter", "Names refused by admission, by reason.",
		    lab, json_integer_value(v), first);
		first = 0;
	}
	metric("jfe_names_admitted_total", "counter", "Names admitted for issuance.", NULL,
	    json_integer_value(json_object_get(ref, "admitted")), 1);
}

int
status_main(int argc, char **argv)
{
	const char *path = "/run/jfe/control.sock";
	int as_json = 0, as_metrics = 0, rc;
	char *raw = NULL;
	json_error_t jerr;
	json_t *j;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			as_json = 1;
		else if (strcmp(argv[i], "--metrics") == 0)
			as_metrics = 1;
		else if (strcmp(argv[i], "--control-socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--control-socket=", 17) == 0)
			path = argv[i] + 17;
		else {
			fprintf(stderr, "jfe status: unknown option '%s' "
			    "(usage: jfe status [--json | --metrics] [--control-socket PATH])\n",
			    argv[i]);
			return 2;
		}
	}
	if ((rc = status_fetch(path, &raw)) != 0)
		return rc;
	if ((j = json_loads(raw, 0, &jerr)) == NULL) {
		fprintf(stderr, "jfe status: the daemon's answer is not JSON: %s\n", jerr.text);
		free(raw);
		return 1;
	}
	free(raw);
	if (as_metrics)
		status_print_metrics(j);
	else if (as_json) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else
		status_print_human(j);
	json_decref(j);
	return 0;
}
