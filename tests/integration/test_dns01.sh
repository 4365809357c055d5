#!/bin/bash
# tests/integration/test_dns01.sh — DNS-01 end to end: jfe → Route53 / Cloudflare emulators →
# records mirrored into pebble-challtestsrv → Pebble validates them for real.
#
#   route53: wildcard (*.wild.jfe.test + wild.jfe.test) with environment credentials; an
#            on-demand name in the managed zone with ports 80 and 443 not intercepted;
#            credentials from the instance role through the IMDSv2 emulator; no
#            _acme-challenge record left behind; faults: a zone jfe does not manage, a
#            throttling storm (short: retried and issued; long: one clear error), a change
#            that never reaches INSYNC, a wrong secret — each bounded, jfe keeps serving.
#   authoritative: zone auth.test served by two real authoritative servers (NSD) on 10.77.0.31 and
#            10.77.0.32 in the acme namespace, the second lagging behind the first; a Pebble
#            that resolves through the lagging one. jfe names the lagging server, answers the
#            challenge only once both serve the value, and the certificate is issued. (Through
#            challtestsrv, which answers NS queries with NOTIMP, jfe falls back to the resolver
#            with one warning: the route53 section checks that.)
#   cloudflare: wildcard with an API token; no record left behind; a wrong token refused.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=dns01
bed_require_root

AKID=AKIAJFETESTKEY000001 SECRET='jfe/Test+Secret0123456789abcdefghijklmnop'
CF_TOKEN=jfeTestCloudflareToken0123456789abcdefghij
R53=https://$ACME4:8443 CF=https://$ACME4:8444/client/v4 IMDS=http://$ACME4:8081

bed_up || { echo "FAIL: dns01.bed_up"; exit 1; }
if ! pebble_certs || ! chall_start ||
	! pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0; then
	echo "FAIL: dns01.pebble_up"
	exit 1
fi
ROOT=$(pebble_root 15000)
spawn "$NS_ACME" r53.out "$PY" -u "$BED_TOOLS/route53_emu.py" --listen "$ACME4" --port 8443 \
	--tls-cert "$PEBBLE_DIR/cert.pem" --tls-key "$PEBBLE_DIR/key.pem" --log "$BED_DIR/r53.log" \
	--challtestsrv "$CHALL_MGMT" --insync-delay 1 --zone jfe.test,id=Z0JFETESTPUBLIC000001 \
	--zone auth.test,id=Z0JFETESTAUTH00000001 --key "$AKID:$SECRET"
spawn "$NS_ACME" cf.out "$PY" -u "$BED_TOOLS/cloudflare_emu.py" --listen "$ACME4" --port 8444 \
	--tls-cert "$PEBBLE_DIR/cert.pem" --tls-key "$PEBBLE_DIR/key.pem" --log "$BED_DIR/cf.log" \
	--challtestsrv "$CHALL_MGMT" --zone cf.test --token "$CF_TOKEN"
spawn "$NS_ACME" imds.out "$PY" -u "$BED_TOOLS/imds_emu.py" --listen "$ACME4" --port 8081 \
	--role jfe-dns --creds-rotate 3600
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 8443
for p in 8443 8444 8081; do
	wait_port "$NS_ACME" "$ACME4" "$p" 15 || { echo "FAIL: dns01.emulators_up ($p)"; exit 1; }
done
wait_port "$NS_SRV" "$SRV4" 8443 10 || { echo "FAIL: dns01.backend"; exit 1; }

# Only port 8443 is intercepted: the CA cannot reach jfe by HTTP-01 or TLS-ALPN-01.
ACME_ARGS=(--acme-directory "https://$ACME4:14000/dir" --acme-ca-bundle "$PEBBLE_DIR/ca.pem"
	--public-ip "$SRV4" --dns-server "$CHALL_DNS" --ports 8443 --issue-timeout 30)
EMPTY_HOME=$BED_DIR/home
mkdir -p "$EMPTY_HOME"

https_ok() { # NAME: a verified request through jfe to the backend
	BED_TIMEOUT=45 CURL_MAX=40 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "$1:8443:$SRV4" "https://$1:8443/" 2>&1
}
wait_log() { # PATTERN [S=40]
	local i
	for ((i = 0; i < ${2:-40} * 10; i++)); do grep -q -- "$1" "$JFE_LOG" && return 0; sleep 0.1; done
	return 1
}
r53_challenges() { # the _acme-challenge record sets the Route53 emulator still holds
	curl_in "$NS_CLI" -s --cacert "$PEBBLE_DIR/ca.pem" "$R53/_emu/records" | grep -o '_acme-challenge[^"]*' | sort -u
}
cf_challenges() {
	curl_in "$NS_CLI" -s --cacert "$PEBBLE_DIR/ca.pem" "$CF/../../_emu/records" 2>/dev/null |
		grep -o '_acme-challenge[^"]*' | sort -u
}
emu_post() { # BASE PATH JSON
	curl_in "$NS_CLI" -sf -o /dev/null --cacert "$PEBBLE_DIR/ca.pem" -d "$3" "$1$2"
}

# ------------------------------------------------------------------ Route53, environment keys
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET HOME=$EMPTY_HOME
if jfe_start "${ACME_ARGS[@]}" --dns-provider route53 --route53-endpoint "$R53" \
	--wildcard wild.jfe.test --wildcard nozone.test --dns-propagation-timeout 20; then
	if wait_log 'acme: \*.wild.jfe.test: certificate issued' 60; then
		out1=$(https_ok a.wild.jfe.test) out2=$(https_ok wild.jfe.test)
		san=$(in_cli openssl s_client -connect "$SRV4:8443" -servername b.wild.jfe.test </dev/null 2>/dev/null |
			openssl x509 -noout -ext subjectAltName 2>/dev/null | tr -d ' \n')
		if [[ $out1 == *"sees peer"* && $out2 == *"sees peer"* && $san == *"DNS:*.wild.jfe.test"* &&
			$san == *"DNS:wild.jfe.test"* ]]; then
			pass dns01.r53_wildcard "served for a.wild.jfe.test and wild.jfe.test ($san)"
		else
			fail dns01.r53_wildcard "out1='$out1' out2='$out2' san='$san'"
		fi
	else
		fail dns01.r53_wildcard "no wildcard certificate"
	fi
	grep -q 'nozone.test.*a wildcard needs a DNS provider managing its zone' "$JFE_LOG" &&
		pass dns01.r53_unmanaged_zone_refused || fail dns01.r53_unmanaged_zone_refused
	out=$(https_ok ondemand.jfe.test)
	if [[ $out == *"sees peer"* ]] && curl_in "$NS_CLI" -s --cacert "$PEBBLE_DIR/ca.pem" "$R53/_emu/changes" |
		grep -q '_acme-challenge.ondemand.jfe.test'; then
		pass dns01.r53_on_demand_ports_80_443_blocked
	else
		fail dns01.r53_on_demand_ports_80_443_blocked "$out"
	fi
	# a short throttling storm is ridden out
	emu_post "$R53" /_emu/throttle '{"n":3}'
	out=$(https_ok throttled.jfe.test)
	[[ $out == *"sees peer"* ]] && grep -q 'route53: Throttling, retrying' "$JFE_LOG" &&
		pass dns01.r53_throttling_retried || fail dns01.r53_throttling_retried "$out"
	# a long one ends the order with one clear error; the handshake gets the fallback
	emu_post "$R53" /_emu/throttle '{"n":100}'
	t0=$(now)
	out=$(BED_TIMEOUT=45 CURL_MAX=40 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "storm.jfe.test:8443:$SRV4" https://storm.jfe.test:8443/ 2>&1)
	wait_log 'storm.jfe.test: not issued (.*Throttling' 40
	if [[ $out == *" 200" ]] && [[ $(grep -c 'storm.jfe.test: not issued' "$JFE_LOG") == 1 ]]; then
		pass dns01.r53_throttling_storm_bounded "fallback served; one error line after $(elapsed "$t0") s"
	else
		fail dns01.r53_throttling_storm_bounded "out='$out'"
	fi
	emu_post "$R53" /_emu/reset '{}'
	# a change that never reaches INSYNC: bounded by --dns-propagation-timeout
	emu_post "$R53" /_emu/stuck '{"on":true}'
	out=$(BED_TIMEOUT=45 CURL_MAX=40 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "stuck.jfe.test:8443:$SRV4" https://stuck.jfe.test:8443/ 2>&1)
	if wait_log 'stuck.jfe.test: not issued (.*never reached INSYNC' 40 && [[ $out == *" 200" ]]; then
		pass dns01.r53_never_insync_bounded
	else
		fail dns01.r53_never_insync_bounded "out='$out'"
	fi
	emu_post "$R53" /_emu/stuck '{"on":false}'
	for ((i = 0; i < 50; i++)); do [[ -z $(r53_challenges) ]] && break; sleep 0.2; done
	left=$(r53_challenges)
	[[ -z $left ]] && pass dns01.r53_no_record_left || fail dns01.r53_no_record_left "$left"
	# challtestsrv cannot name the zone's nameservers (NS: NOTIMP): every order above fell
	# back to the resolver, with a single warning
	n=$(grep -c "cannot find the zone's authoritative nameservers" "$JFE_LOG")
	[[ $n == 1 ]] && pass dns01.no_ns_fallback_warned_once ||
		fail dns01.no_ns_fallback_warned_once "$n warnings"
	jfe_stop
else
	fail dns01.r53_jfe_start
fi
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ------------------------------------------------------------------ every authoritative nameserver
# auth.test has two nameservers, real NSD servers in the acme namespace on addresses of their own
# (NS records cannot name a port: both listen on 53). The test plays the zone transfer: it copies
# the value the Route53 emulator holds into ns1 once jfe waits for both, and into ns2 only once jfe
# says it waits for ns2 alone. Pebble "auth" resolves through ns2, so a challenge answered early
# would fail validation.
AUTH_NS1=10.77.0.31 AUTH_NS2=10.77.0.32
NSD_BIN=$(command -v nsd || echo /usr/sbin/nsd)
declare -A NSD_PID=()
nsd_zone() { # N SERIAL [VALUE]: writes nsd N's auth.test, TXT VALUE at _acme-challenge.lag, reloads
	local d=$BED_DIR/nsd$1
	{
		printf '$ORIGIN auth.test.\n$TTL 5\n@ IN SOA ns1 hostmaster %s 60 60 600 5\n' "$2"
		printf '@ IN NS ns1\n@ IN NS ns2\nns1 IN A %s\nns2 IN A %s\nlag IN A %s\n' \
			"$AUTH_NS1" "$AUTH_NS2" "$SRV4"
		if [[ -n ${3:-} ]]; then printf '_acme-challenge.lag IN TXT "%s"\n' "$3"; fi
	} >"$d/zone.tmp" && mv -f "$d/zone.tmp" "$d/auth.test.zone" || return 1
	# NSD re-reads a zone file on SIGHUP when its mtime changed: make sure it did
	touch -d "@$(($(date +%s) + $2))" "$d/auth.test.zone"
	[[ -z ${NSD_PID[$1]:-} ]] || kill -HUP "${NSD_PID[$1]}"
}
nsd_start() { # N ADDR
	local d=$BED_DIR/nsd$1 i
	mkdir -p "$d"
	cat >"$d/nsd.conf" <<-EOF
	server:
	  ip-address: $2
	  port: 53
	  username: ""
	  chroot: ""
	  zonesdir: "$d"
	  database: ""
	  pidfile: "$d/nsd.pid"
	  xfrdfile: "$d/xfrd.state"
	  xfrdir: "$d"
	  zonelistfile: "$d/zone.list"
	  logfile: "$d/nsd.log"
	  server-count: 1
	  verbosity: 1
	remote-control:
	  control-enable: no
	zone:
	  name: auth.test
	  zonefile: "$d/auth.test.zone"
	EOF
	nsd_zone "$1" 1 || return 1
	spawn "$NS_ACME" "nsd$1.out" "$NSD_BIN" -d -c "$d/nsd.conf"
	NSD_PID[$1]=$LASTPID
	for ((i = 0; i < 100; i++)); do
		[[ -n $(in_ns "$NS_ACME" dig +short +norec +time=1 +tries=1 "@$2" auth.test SOA 2>/dev/null) ]] && return 0
		sleep 0.1
	done
	return 1
}
nsd_txt() { # ADDR: what that server answers for _acme-challenge.lag.auth.test TXT
	in_ns "$NS_ACME" dig +short +norec +time=1 +tries=1 "@$1" _acme-challenge.lag.auth.test TXT 2>/dev/null | tr -d '"'
}
nsd_wait_txt() { # ADDR VALUE: until the server serves it (its reload is asynchronous)
	local i
	for ((i = 0; i < 50; i++)); do [[ $(nsd_txt "$1") == "$2" ]] && return 0; sleep 0.1; done
	return 1
}
r53_txt() { # NAME.: the TXT values the Route53 emulator holds at NAME
	curl_in "$NS_CLI" -s --cacert "$PEBBLE_DIR/ca.pem" "$R53/_emu/records?zone=auth.test" |
		"$PY" -c 'import json, sys
for z in json.load(sys.stdin)["zones"]:
    for r in z["rrsets"]:
        if r["name"] == sys.argv[1] and r["type"] == "TXT":
            print("\n".join(v.strip("\"") for v in r.get("values", [])))' "$1" 2>/dev/null
}
line_of() { grep -n -m1 -- "$1" "$JFE_LOG" | cut -d: -f1; } # PATTERN: its first line number

ip -n "$NS_ACME" addr add "$AUTH_NS1/24" dev veth0 && ip -n "$NS_ACME" addr add "$AUTH_NS2/24" dev veth0
if [[ ! -x $NSD_BIN ]]; then
	fail dns01.auth_nsd_up "nsd is not installed (tests/deps.sh installs it)"
elif ! nsd_start 1 "$AUTH_NS1" || ! nsd_start 2 "$AUTH_NS2"; then
	fail dns01.auth_nsd_up "NSD does not answer" nsd1.out nsd2.out "$BED_DIR/nsd1/nsd.log"
elif ! PEBBLE_DNS=$AUTH_NS2:53 pebble_start auth 14010 15010 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0; then
	fail dns01.auth_pebble_up
else
	AUTH_ROOT=$(pebble_root 15010)
	export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET HOME=$EMPTY_HOME
	JFE_CACHE=$BED_DIR/cache-auth
	# the admission check and the NS lookups go to ns1, as they would to any resolver
	if jfe_start --acme-directory "https://$ACME4:14010/dir" --acme-ca-bundle "$PEBBLE_DIR/ca.pem" \
		--public-ip "$SRV4" --dns-server "$AUTH_NS1" --ports 8443 --issue-timeout 1 \
		--dns-provider route53 --route53-endpoint "$R53" --dns-propagation-timeout 50; then
		# the first handshake starts the order (and gets the fallback certificate)
		CURL_MAX=10 curl_in "$NS_CLI" -k -o /dev/null --resolve "lag.auth.test:8443:$SRV4" \
			https://lag.auth.test:8443/ 2>/dev/null
		if wait_log '_acme-challenge.lag.auth.test: 0 of 2 nameservers of auth.test have the value; waiting for ns1.auth.test 10.77.0.31 .*ns2.auth.test 10.77.0.32' 30; then
			pass dns01.auth_waits_for_every_nameserver
		else
			fail dns01.auth_waits_for_every_nameserver "" nsd1.out
		fi
		val=$(r53_txt _acme-challenge.lag.auth.test.)
		if [[ -n $val ]] && nsd_zone 1 2 "$val" && nsd_wait_txt "$AUTH_NS1" "$val" &&
			wait_log '_acme-challenge.lag.auth.test: 1 of 2 nameservers of auth.test have the value; waiting for ns2.auth.test 10.77.0.32 (no such name)$' 15; then
			pass dns01.auth_names_the_lagging_server
		else
			fail dns01.auth_names_the_lagging_server "value '$val', ns1 serves '$(nsd_txt "$AUTH_NS1")'"
		fi
		# two more polls of ns2: the CA is still not asked
		sleep 2.5
		n=$(grep -c 'Starting .* validations' "${PEBBLE_LOG[auth]}")
		if [[ $n == 0 ]] && ! grep -q 'lag.auth.test: certificate issued' "$JFE_LOG"; then
			pass dns01.auth_challenge_held_while_ns2_lags
		else
			fail dns01.auth_challenge_held_while_ns2_lags "$n validations started" "${PEBBLE_LOG[auth]}"
		fi
		if [[ -n $val ]] && nsd_zone 2 2 "$val" && nsd_wait_txt "$AUTH_NS2" "$val" &&
			wait_log 'acme: lag.auth.test: certificate issued' 40; then
			l_wait=$(line_of 'waiting for ns2.auth.test 10.77.0.32') l_all=$(line_of 'lag.auth.test: the value is on all 2 nameservers of auth.test')
			l_done=$(line_of 'acme: lag.auth.test: certificate issued')
			out=$(BED_TIMEOUT=20 CURL_MAX=15 curl_in "$NS_CLI" --cacert "$AUTH_ROOT" --resolve "lag.auth.test:8443:$SRV4" https://lag.auth.test:8443/ 2>&1)
			if [[ -n $l_wait && -n $l_all && $l_wait -lt $l_all && $l_all -lt $l_done && $out == *"sees peer"* ]]; then
				pass dns01.auth_issued_once_every_nameserver_has_it "validated by Pebble through ns2"
			else
				fail dns01.auth_issued_once_every_nameserver_has_it "lines wait=$l_wait all=$l_all issued=$l_done out='$out'"
			fi
		else
			fail dns01.auth_issued_once_every_nameserver_has_it "no certificate" "${PEBBLE_LOG[auth]}"
		fi
		jfe_stop
	else
		fail dns01.auth_jfe_start
	fi
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	pebble_stop auth
fi

# ------------------------------------------------------------------ Route53, instance role
tok=$(curl_in "$NS_CLI" -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS/latest/api/token")
creds=$(curl_in "$NS_CLI" -s -H "X-aws-ec2-metadata-token: $tok" "$IMDS/latest/meta-data/iam/security-credentials/jfe-dns")
body=$("$PY" -c 'import json,sys; c=json.loads(sys.argv[1]); print(json.dumps({"access_key_id":c["AccessKeyId"],"secret_access_key":c["SecretAccessKey"],"session_token":c["Token"]}))' "$creds" 2>/dev/null)
if [[ -n $body ]] && emu_post "$R53" /_emu/credentials "$body"; then
	JFE_CACHE=$BED_DIR/cache-role
	if jfe_start "${ACME_ARGS[@]}" --dns-provider route53 --route53-endpoint "$R53" --imds-endpoint "$IMDS"; then
		# the role's credentials arrive after start; the zone list follows them
		for ((i = 0; i < 150; i++)); do
			jfe_status --json | grep -q '"zones": \[$\|"zones": \[ *"' && break
			grep -q 'route53: [0-9]* hosted zones' "$JFE_LOG" && break
			sleep 0.1
		done
		out=$(https_ok role.jfe.test)
		src=$(jfe_status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["admission"]["identity"]["aws_credentials"]["source"])' 2>/dev/null)
		if [[ $out == *"sees peer"* && $src == instance-role ]]; then
			pass dns01.r53_instance_role_credentials
		else
			fail dns01.r53_instance_role_credentials "out='$out' source='$src'"
		fi
		jfe_stop
	else
		fail dns01.r53_role_jfe_start
	fi
else
	fail dns01.r53_instance_role_credentials "could not read the role credentials from the IMDS emulator"
fi

# ------------------------------------------------------------------ Route53, a wrong secret
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY='wrong/Secret0123456789abcdefghijklmnopqrs'
JFE_CACHE=$BED_DIR/cache-bad
if jfe_start "${ACME_ARGS[@]}" --dns-provider route53 --route53-endpoint "$R53"; then
	sleep 1
	out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "bad.jfe.test:8443:$SRV4" https://bad.jfe.test:8443/ 2>&1)
	if grep -q 'SignatureDoesNotMatch' "$JFE_LOG" && [[ $out == *" 200" ]]; then
		pass dns01.r53_wrong_secret_clear_error "fallback served, log names SignatureDoesNotMatch"
	else
		fail dns01.r53_wrong_secret_clear_error "out='$out'"
	fi
	if grep -q 'wrong/Secret' "$JFE_LOG"; then fail dns01.secret_not_logged; else pass dns01.secret_not_logged; fi
	jfe_stop
else
	fail dns01.r53_bad_jfe_start
fi
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ------------------------------------------------------------------ Cloudflare
export CLOUDFLARE_API_TOKEN=$CF_TOKEN
JFE_CACHE=$BED_DIR/cache-cf
if jfe_start "${ACME_ARGS[@]}" --dns-provider cloudflare --cloudflare-endpoint "$CF" --wildcard cf.test; then
	if wait_log 'acme: \*.cf.test: certificate issued' 60; then
		out=$(https_ok x.cf.test)
		[[ $out == *"sees peer"* ]] && pass dns01.cf_wildcard || fail dns01.cf_wildcard "$out"
	else
		fail dns01.cf_wildcard "no wildcard certificate"
	fi
	sleep 1
	left=$(cf_challenges)
	[[ -z $left ]] && pass dns01.cf_no_record_left || fail dns01.cf_no_record_left "$left"
	if grep -q "$CF_TOKEN" "$JFE_LOG" || jfe_status --json | grep -q "$CF_TOKEN"; then
		fail dns01.cf_token_not_shown
	else
		pass dns01.cf_token_not_shown
	fi
	jfe_stop
else
	fail dns01.cf_jfe_start
fi
export CLOUDFLARE_API_TOKEN=jfeWrongCloudflareToken0123456789abcdefghi
JFE_CACHE=$BED_DIR/cache-cf-bad
if jfe_start "${ACME_ARGS[@]}" --dns-provider cloudflare --cloudflare-endpoint "$CF"; then
	sleep 1
	st=$(jfe_status --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["admission"]["dns_provider"]; print(d["healthy"], d["last_error"])' 2>/dev/null)
	[[ $st == False*"authentication failed"* ]] && pass dns01.cf_wrong_token_clear_error "$st" ||
		fail dns01.cf_wrong_token_clear_error "$st"
	jfe_stop
else
	fail dns01.cf_bad_jfe_start
fi
unset CLOUDFLARE_API_TOKEN

if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail dns01.sanitizers_clean; else pass dns01.sanitizers_clean; fi
bed_finish
