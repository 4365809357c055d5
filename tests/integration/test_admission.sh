#!/bin/bash
# tests/integration/test_admission.sh — names come from attackers: what jfe agrees to order.
#
# Pebble + pebble-challtestsrv (every name resolves to the jfe host unless told otherwise):
#   1. a name that resolves elsewhere is refused before any order;
#   2. an attacker sending 300 distinct SNI names, all resolving to the host, causes no more
#      orders than the hourly budget, and every handshake still completes with the fallback
#      certificate without waiting out --issue-timeout;
#   3. the spent budget survives a restart;
#   4. --require-consent orders only names whose _jfe-consent TXT names jfe's ACME account;
#   5. DNS faults: SERVFAIL for a name, a resolver that never answers — refused with the DNS
#      reason, the client served the fallback in bounded time, jfe unaffected.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=admission
bed_require_root
ISSUE_TIMEOUT=10

bed_up || { echo "FAIL: admission.bed_up"; exit 1; }
if ! pebble_certs || ! chall_start ||
	! pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0; then
	echo "FAIL: admission.pebble_up"
	exit 1
fi
ROOT=$(pebble_root 15000)
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443
wait_port "$NS_SRV" "$SRV4" 443 10 || { echo "FAIL: admission.backend"; exit 1; }
ACME_ARGS=(--acme-directory "https://$ACME4:14000/dir" --acme-ca-bundle "$PEBBLE_DIR/ca.pem"
	--public-ip "$SRV4" --dns-server "$CHALL_DNS" --issue-timeout "$ISSUE_TIMEOUT")
BUDGET=(--names-per-hour 3 --names-per-day 10 --names-per-client-hour 1000)

status_json() { jfe_status --json 2>/dev/null; }
jq_py() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ------------------------------------------------------------------ 1. elsewhere
jfe_start "${ACME_ARGS[@]}" "${BUDGET[@]}" || { fail admission.jfe_start; bed_finish; }
chall_add_a elsewhere.attack.test 10.77.0.9
out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "elsewhere.attack.test:443:$SRV4" \
	https://elsewhere.attack.test/ 2>&1)
if [[ $out == *" 200" ]] && grep -q 'elsewhere.attack.test refused: does not resolve to this host' "$JFE_LOG" &&
	[[ $(pebble_orders main) == 0 ]]; then
	pass admission.01_resolves_elsewhere_refused
else
	fail admission.01_resolves_elsewhere_refused "out='$out' orders=$(pebble_orders main)"
fi

# ------------------------------------------------------------------ 2. a flood of names
: >"$BED_DIR/flood.out"
t0=$(now)
for ((b = 0; b < 10; b++)); do
	pids=()
	for ((k = 1; k <= 30; k++)); do
		n=$((b * 30 + k))
		in_cli curl -q -sk -m $((ISSUE_TIMEOUT + 10)) -o /dev/null -w '%{http_code} %{time_total}\n' \
			--resolve "n$n.attack.test:443:$SRV4" "https://n$n.attack.test/" >>"$BED_DIR/flood.out" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
done
ok=$(grep -c '^200 ' "$BED_DIR/flood.out")
slowest=$(awk '{ if ($2 > m) m = $2 } END { printf "%.2f", m }' "$BED_DIR/flood.out")
issued=$(grep -c 'certificate issued' "$JFE_LOG")
orders=$(pebble_orders main)
refused=$(status_json | jq_py 'd["admission"]["refused"]["budget"]')
if [[ $ok == 300 && $orders -le 3 && $issued -le 3 ]]; then
	pass admission.02_flood_within_budget "300/300 handshakes ok, $orders orders (budget 3), $refused refused for budget, in $(elapsed "$t0") s"
else
	fail admission.02_flood_within_budget "ok=$ok orders=$orders issued=$issued refused=$refused"
fi
if awk -v lim="$ISSUE_TIMEOUT" '$2 >= lim { bad = 1 } END { exit bad }' "$BED_DIR/flood.out"; then
	pass admission.02_flood_no_handshake_waits_out_the_timeout "slowest $slowest s (--issue-timeout $ISSUE_TIMEOUT)"
else
	fail admission.02_flood_no_handshake_waits_out_the_timeout "slowest $slowest s"
fi
out=$(CURL_MAX=10 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "n1.attack.test:443:$SRV4" https://n1.attack.test/ 2>&1)
if grep -q 'n1.attack.test: certificate issued' "$JFE_LOG"; then
	[[ $out == *"sees peer"* ]] && pass admission.02_admitted_name_served || fail admission.02_admitted_name_served "$out"
else
	pass admission.02_admitted_name_served "(n1 was not among the admitted)"
fi

# ------------------------------------------------------------------ 3. budgets survive a restart
jfe_stop
orders_before=$(pebble_orders main)
jfe_start "${ACME_ARGS[@]}" "${BUDGET[@]}" || fail admission.jfe_restart
out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "after.attack.test:443:$SRV4" \
	https://after.attack.test/ 2>&1)
sleep 0.5
if [[ $out == *" 200" && $(pebble_orders main) == "$orders_before" ]] &&
	grep -q 'after.attack.test refused: hourly budget' "$JFE_LOG"; then
	pass admission.03_budget_survives_restart
else
	fail admission.03_budget_survives_restart "out='$out' orders $orders_before -> $(pebble_orders main)"
fi
jfe_stop

# ------------------------------------------------------------------ 4. owner consent
JFE_CACHE=$BED_DIR/cache-consent
jfe_start "${ACME_ARGS[@]}" --require-consent || fail admission.jfe_start_consent
acct=
for ((i = 0; i < 100; i++)); do
	acct=$(status_json | jq_py 'd["admission"].get("acme", {}).get("account") or ""')
	[[ -n $acct ]] && break
	sleep 0.1
done
if [[ -z $acct ]]; then
	fail admission.04_account_known "jfe status shows no ACME account"
else
	_chall_post set-txt "{\"host\":\"_jfe-consent.ok.consent.test.\",\"value\":\"$acct\"}"
	_chall_post set-txt "{\"host\":\"_jfe-consent.no.consent.test.\",\"value\":\"https://elsewhere.example/acct/1\"}"
	out=$(CURL_MAX=30 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "ok.consent.test:443:$SRV4" \
		https://ok.consent.test/ 2>&1)
	[[ $out == *"sees peer"* ]] && pass admission.04_consented_name_issued || fail admission.04_consented_name_issued "$out"
	out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "no.consent.test:443:$SRV4" \
		https://no.consent.test/ 2>&1)
	issuer=$(served_issuer no.consent.test 443)
	if [[ $out == *" 200" && $issuer == *"jfe fallback"* ]] &&
		grep -q 'no.consent.test refused: no _jfe-consent' "$JFE_LOG" &&
		! grep -q 'no.consent.test: certificate issued' "$JFE_LOG"; then
		pass admission.04_unconsented_name_refused
	else
		fail admission.04_unconsented_name_refused "out='$out' issuer='$issuer'"
	fi
fi
jfe_stop

# ------------------------------------------------------------------ 5. DNS faults
# SERVFAIL for one name (challtestsrv /set-servfail), then a resolver that never answers (a UDP
# socket that swallows every query): the name is refused with the DNS reason, its client gets
# the fallback certificate without waiting out --issue-timeout, and jfe goes on serving.
JFE_CACHE=$BED_DIR/cache-dns
jfe_start "${ACME_ARGS[@]}" || fail admission.jfe_start_dns
_chall_post set-servfail '{"host":"servfail.attack.test."}'
t0=$(now)
out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "servfail.attack.test:443:$SRV4" \
	https://servfail.attack.test/ 2>&1)
t=$(elapsed "$t0")
if [[ $out == *" 200" ]] && grep -Eq 'servfail.attack.test refused: DNS: ' "$JFE_LOG" &&
	awk -v t="$t" -v m="$ISSUE_TIMEOUT" 'BEGIN { exit !(t < m) }' && _alive "$JFE_PID"; then
	pass admission.05_servfail_refused "$(grep -Eo 'servfail.attack.test refused: DNS: [^(]*' "$JFE_LOG" | head -1), handshake served in $t s"
else
	fail admission.05_servfail_refused "out='$out' after $t s"
fi
jfe_stop
spawn "$NS_ACME" blackhole-dns.log socat -u "UDP4-RECVFROM:8054,bind=$ACME4,fork" /dev/null
sleep 0.3
JFE_CACHE=$BED_DIR/cache-dns-timeout
jfe_start "${ACME_ARGS[@]/#$CHALL_DNS/$ACME4:8054}" || fail admission.jfe_start_dns_timeout
t0=$(now)
out=$(CURL_MAX=$((ISSUE_TIMEOUT + 10)) curl_in "$NS_CLI" -k -w ' %{http_code}' \
	--resolve "silent.attack.test:443:$SRV4" https://silent.attack.test/ 2>&1)
t=$(elapsed "$t0")
if [[ $out == *" 200" ]] && _alive "$JFE_PID" && grep -q 'silent.attack.test refused: DNS: ' "$JFE_LOG" &&
	awk -v t="$t" -v m="$((ISSUE_TIMEOUT + 2))" 'BEGIN { exit !(t < m) }'; then
	pass admission.05_dns_timeout_bounded "handshake served in $t s (--issue-timeout $ISSUE_TIMEOUT); $(grep -Eo 'silent.attack.test refused: DNS: [^(]*' "$JFE_LOG" | head -1)"
else
	fail admission.05_dns_timeout_bounded "out='$out' after $t s"
fi
jfe_stop

if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail admission.sanitizers_clean; else pass admission.sanitizers_clean; fi
bed_finish
