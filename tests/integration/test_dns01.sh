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
	--key "$AKID:$SECRET"
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
	jfe_stop
else
	fail dns01.r53_jfe_start
fi
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

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
