#!/bin/bash
# tests/integration/test_ops.sh — operating jfe: status (human, --json, --metrics) against a
# live daemon with a connection, a certificate and a refused name; status with no daemon;
# SIGHUP during a 64 MiB transfer reloads the options file without breaking it.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=ops
bed_require_root

bed_up || { echo "FAIL: ops.bed_up"; exit 1; }
if ! pebble_certs || ! chall_start || ! pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1; then
	echo "FAIL: ops.pebble_up"
	exit 1
fi
ROOT=$(pebble_root 15000)
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443
spawn "$NS_SRV" bulk.log "$PY" -u "$BED_TOOLS/bulk.py" server "$SRV4" 5001
wait_port "$NS_SRV" "$SRV4" 443 10 && wait_port "$NS_SRV" "$SRV4" 5001 10 ||
	{ echo "FAIL: ops.backends"; exit 1; }
chall_add_a elsewhere.ops.test 10.77.0.9
CONF=$BED_DIR/jfe.conf
printf '# jfe options\nnames-per-hour 20\n' >"$CONF"

if ! jfe_start -f "$CONF" --acme-directory "https://$ACME4:14000/dir" \
	--acme-ca-bundle "$PEBBLE_DIR/ca.pem" --public-ip "$SRV4" --dns-server "$CHALL_DNS"; then
	echo "FAIL: ops.jfe_start"
	bed_finish
fi
CURL_MAX=30 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "www.ops.test:443:$SRV4" https://www.ops.test/ >/dev/null 2>&1
CURL_MAX=10 curl_in "$NS_CLI" -k --resolve "elsewhere.ops.test:443:$SRV4" https://elsewhere.ops.test/ >/dev/null 2>&1
# a live connection: a slow transfer in the background
BED_TIMEOUT=60 py "$NS_CLI" bulk.py client "$SRV4" 5001 64 --tls --sni bulk.ops.test --timeout 40 \
	>"$BED_DIR/bulk.out" 2>&1 &
bulk=$!
sleep 0.3

human=$(jfe_status 2>&1)
if [[ $human == *"Interception"* && $human == *"www.ops.test"* && $human == *"Pebble"* ]]; then
	pass ops.status_human
else
	fail ops.status_human "$human"
fi
json=$(jfe_status --json 2>&1)
if "$PY" - "$json" <<-'PY'
	import json, sys
	d = json.loads(sys.argv[1])
	assert d["interception"]["rules_installed"] is True
	assert any(c["name"] == "www.ops.test" and c["not_after"].endswith("Z") and c["renew_at"]
	           for c in d["certificates"])
	assert any(r["name"] == "elsewhere.ops.test" for r in d["refused"])
	assert d["traffic"]["active"]["tls"] >= 1, d["traffic"]
	assert d["admission"]["refused"]["resolves_elsewhere"] >= 1
	PY
then
	pass ops.status_json "live connection, certificate and refused name all shown"
else
	fail ops.status_json "$json"
fi
metrics=$(jfe_status --metrics 2>&1)
check=$("$PY" "$BED_TOOLS/prom_check.py" <<<"$metrics" 2>&1)
if [[ $check == OK* && $metrics == *'jfe_connections_active{kind="tls"}'* &&
	$metrics == *'jfe_certificate_expiry_timestamp_seconds{name="www.ops.test"}'* ]]; then
	pass ops.status_metrics "$check"
else
	fail ops.status_metrics "$check"
fi

# SIGHUP during the transfer: options re-read, the transfer unharmed
printf '# jfe options\nnames-per-hour 5\ndeny-domain denied.ops.test\n' >"$CONF"
kill -HUP "$JFE_PID"
sleep 0.5
wait "$bulk"; rc=$?
out=$(cat "$BED_DIR/bulk.out")
if [[ $rc == 0 && $out == OK* ]] && grep -q 'reloaded the admission settings' "$JFE_LOG"; then
	pass ops.sighup_during_transfer "$out"
else
	fail ops.sighup_during_transfer "rc=$rc $out"
fi
CURL_MAX=10 curl_in "$NS_CLI" -k --resolve "x.denied.ops.test:443:$SRV4" https://x.denied.ops.test/ >/dev/null 2>&1
sleep 0.3
grep -q 'x.denied.ops.test refused: matches --deny-domain' "$JFE_LOG" &&
	pass ops.sighup_applies_options || fail ops.sighup_applies_options
budget=$(jfe_status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["admission"]["budgets"]["hour"]["of"])' 2>/dev/null)
[[ $budget == 5 ]] && pass ops.sighup_budget_resized || fail ops.sighup_budget_resized "of=$budget"
jfe_stop || fail ops.stop "rc=$JFE_RC"

# jfe certs and jfe revoke work on the store, with the daemon stopped
out=$(in_srv "$JFE_BIN" certs -c "$JFE_CACHE" 2>&1)
if [[ $out == *"www.ops.test"*"Pebble"* ]]; then pass ops.certs_lists_store; else fail ops.certs_lists_store "$out"; fi
revoked_before=$(grep -c 'POST /revoke-cert' "${PEBBLE_LOG[main]}")
out=$(in_srv "$JFE_BIN" revoke www.ops.test -c "$JFE_CACHE" --acme-directory "https://$ACME4:14000/dir" \
	--acme-ca-bundle "$PEBBLE_DIR/ca.pem" 2>&1); rc=$?
after=$(in_srv "$JFE_BIN" certs -c "$JFE_CACHE" 2>&1)
if [[ $rc == 0 && $out == "revoked www.ops.test" && $after != *"www.ops.test"* &&
	$(grep -c 'POST /revoke-cert' "${PEBBLE_LOG[main]}") -gt $revoked_before ]]; then
	pass ops.revoke "the CA revoked it and the store forgot it"
else
	fail ops.revoke "rc=$rc out=$out"
fi

out=$(jfe_status 2>&1); rc=$?
if [[ $rc == 3 && $(wc -l <<<"$out") == 1 && $out == *"not running"* ]]; then
	pass ops.status_not_running_exit_3
else
	fail ops.status_not_running_exit_3 "rc=$rc out=$out"
fi
if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail ops.sanitizers_clean; else pass ops.sanitizers_clean; fi
bed_finish
