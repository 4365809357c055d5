#!/bin/bash
# tests/integration/test_resume.sh — an order in flight survives a kill -9: the next start
# resumes it (POST-as-GET of the stored order URL) instead of placing another one.
#
# Pebble with slow validation (PEBBLE_VA_SLEEPTIME=$RESUME_VA_SLEEP: each validation waits a
# random 0..N s). A TLS client asks for a new name; as soon as jfe logs that it answers the
# challenge, jfe is killed with SIGKILL and started again on the same cache, and the client asks
# again. When Pebble validated before jfe was back (it then found no one on port 80), the order
# is invalid and jfe must order anew — that attempt is retried with another name, up to
# RESUME_TRIES times. Checks: jfe logs that it resumes the order, Pebble saw exactly one order
# for the name, the certificate is issued and verifies, and the stored record of orders in
# flight is empty afterwards.
# Environment: JFE_BIN, BED_KEEP=1, RESUME_VA_SLEEP (default 20), RESUME_TRIES (default 3).
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=resume
bed_require_root

VA_SLEEP=${RESUME_VA_SLEEP:-20}
TRIES=${RESUME_TRIES:-3}
ALL_TESTS=(resumed_not_reordered issued_after_resume inflight_record_cleared sanitizers_clean)
T0=$(now)

bed_up || { echo "FAIL: resume.bed_up"; exit 1; }
setup_ok=1
pebble_certs "$BED_DIR/pebble" && chall_start || setup_ok=0
if [[ $setup_ok == 1 ]]; then
	pebble_start slow 14000 15000 "PEBBLE_VA_SLEEPTIME=$VA_SLEEP" PEBBLE_AUTHZREUSE=0 || setup_ok=0
	ROOT=$(pebble_root 15000) || setup_ok=0
fi
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443
wait_port "$NS_SRV" "$SRV4" 443 10 || setup_ok=0
if [[ $setup_ok == 0 ]]; then
	fail resume.setup "Pebble or the backend did not start" challtestsrv.log pebble-slow.log backend.log
	not_run . "set-up failed"
	bed_finish
fi
JFE_CACHE=$BED_DIR/cache
ARGS=(--acme-directory "${PEBBLE_URL[slow]}" --acme-ca-bundle "$PEBBLE_DIR/ca.pem"
	--public-ip "$SRV4" --dns-server "$CHALL_DNS" --issue-timeout 5 -v)

# ask NAME MAX_S: one HTTPS request from cli (the first handshake may wait for issuance)
ask() {
	CURL_MAX=$2 BED_TIMEOUT=$(($2 + 5)) curl_in "$NS_CLI" --cacert "$ROOT" \
		--resolve "$1:443:$SRV4" "https://$1/" >/dev/null 2>&1
}
# wait_log REGEX MAX_S: until jfe's current log has a line matching REGEX
wait_log() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -Eq "$1" "$JFE_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

resumed='' detail=''
for ((try = 1; try <= TRIES; try++)); do
	[[ -n $resumed ]] && break
	name=resume$try-$BED_ID.jfe.test
	jfe_start "${ARGS[@]}" -v || { detail+="try $try: jfe did not start; "; continue; }
	before=$(pebble_orders slow)
	ask "$name" 3 &
	asker=$!
	if ! wait_log "answering http-01|answering tls-alpn-01" 20; then
		detail+="try $try: jfe never answered a challenge; "
		wait "$asker"
		jfe_stop TERM
		continue
	fi
	jfe_stop KILL 5
	wait "$asker"
	jfe_start "${ARGS[@]}" || { detail+="try $try: jfe did not restart; "; continue; }
	ok=0
	for ((i = 0; i < VA_SLEEP + 20; i++)); do
		ask "$name" 8 && { ok=1; break; }
		sleep 1
	done
	orders=$(( $(pebble_orders slow) - before ))
	if grep -q "acme: $name: resuming the order placed before the restart" "$JFE_LOG"; then
		resumed=$name
		if [[ $orders == 1 ]]; then
			report pass resumed_not_reordered "try $try: $name resumed after kill -9; Pebble saw 1 order for it"
		else
			report fail resumed_not_reordered "try $try: resumed, but Pebble saw $orders orders for $name"
		fi
		if [[ $ok == 1 ]] && served_cert "$name" 443 "$ROOT" | grep -q '^verify=0$'; then
			report pass issued_after_resume "the resumed order's certificate verifies"
		else
			report fail issued_after_resume "no verified certificate for $name after the resume" pebble-slow.log
		fi
	else
		detail+="try $try: not resumed ($(grep -Eo "acme: $name: the order placed before the restart is [a-z]+" "$JFE_LOG" | tail -1 || true)); "
	fi
	jfe_stop TERM
done
if [[ -z $resumed ]]; then
	report fail resumed_not_reordered "$detail" pebble-slow.log
	not_run issued_after_resume "no resumed order"
fi
# The record of orders in flight is emptied once they settle.
state=$(cat "$JFE_CACHE"/state/acme-orders* 2>/dev/null || true)
if [[ -n $resumed && $state != *"$resumed"* ]]; then
	report pass inflight_record_cleared "no order left recorded: ${state:-(no record)}"
else
	report fail inflight_record_cleared "record: ${state:-(none)}"
fi
if reps=$(jfe_sanitizer_reports); then
	report fail sanitizers_clean "$reps"
else
	report pass sanitizers_clean "no ASan/UBSan report in jfe's logs"
fi
bed_log "done after $(elapsed "$T0")s"
not_run . "not reached"
bed_finish
