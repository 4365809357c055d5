#!/bin/bash
# tests/integration/test_ari.sh — ACME Renewal Information (RFC 9773) and External Account
# Binding (RFC 8555 §7.3.4) against real Pebble instances.
#
# Debian's Pebble 2.4 has no ARI, so tools/ari_fake.py fronts its directory: the same directory
# with a renewalInfo URL added, answered by the fake with a window a few seconds ahead. Orders,
# validation and certificates stay Pebble's. jfe must ask with the right certificate identifier
# and renew inside the window. EAB: a Pebble that requires it refuses jfe without a key and
# issues with one.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=ari
bed_require_root
EAB_KEY=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W

bed_up || { echo "FAIL: ari.bed_up"; exit 1; }
if ! pebble_certs || ! chall_start ||
	! pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 -- \
		'"retryAfter": {"authz": 1, "order": 1}' ||
	! pebble_start eab 14200 15200 PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 -- \
		'"retryAfter": {"authz": 1, "order": 1}' '"externalAccountBindingRequired": true' \
		"\"externalAccountMACKeys\": {\"kid-1\": \"$EAB_KEY\"}"; then
	echo "FAIL: ari.pebble_up"
	exit 1
fi
ROOT=$(pebble_root 15000)
EAB_ROOT=$(pebble_root 15200)
spawn "$NS_ACME" ari-fake.log "$PY" -u "$BED_TOOLS/ari_fake.py" "$ACME4" 14100 \
	"$PEBBLE_DIR/cert.pem" "$PEBBLE_DIR/key.pem" "$PEBBLE_DIR/ca.pem" \
	"https://$ACME4:14000/dir" "$BED_DIR/ari-ids" 2 5
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443
wait_port "$NS_ACME" "$ACME4" 14100 10 && wait_port "$NS_SRV" "$SRV4" 443 10 ||
	{ echo "FAIL: ari.helpers_up"; exit 1; }

ACME_ARGS=(--acme-ca-bundle "$PEBBLE_DIR/ca.pem" --public-ip "$SRV4" --dns-server "$CHALL_DNS")

# The ARI certificate identifier of a PEM certificate: base64url(AKI keyid) "." base64url(serial
# as DER integer content, with the leading 00 when the top bit is set).
ari_id_of() {
	"$PY" - "$1" <<-'PY'
	import base64, re, subprocess, sys
	pem = open(sys.argv[1]).read()
	txt = subprocess.run(["openssl", "x509", "-noout", "-serial", "-ext", "authorityKeyIdentifier"],
	                     input=pem, capture_output=True, text=True).stdout
	serial = bytes.fromhex(re.search(r"serial=([0-9A-Fa-f]+)", txt).group(1).rjust(2, "0"))
	if serial[0] & 0x80:
	    serial = b"\0" + serial
	body = txt.split("Authority Key Identifier:", 1)[1]
	aki = bytes.fromhex(re.search(r"([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)", body).group(1).replace(":", ""))
	b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
	print(b(aki) + "." + b(serial))
	PY
}

leaf_pem() { # NAME PORT CA -> the served leaf, PEM
	in_cli openssl s_client -connect "$SRV4:$2" -servername "$1" -CAfile "$3" </dev/null 2>/dev/null |
		sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'
}

# ------------------------------------------------------------------ ARI
if jfe_start --acme-directory "https://$ACME4:14100/dir" "${ACME_ARGS[@]}"; then
	out=$(CURL_MAX=40 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "ari.jfe.test:443:$SRV4" \
		https://ari.jfe.test/ 2>&1)
	[[ $out == *"sees peer"* ]] && pass ari.first_issue || fail ari.first_issue "$out"
	leaf_pem ari.jfe.test 443 "$ROOT" >"$BED_DIR/leaf1.pem"
	want=$(ari_id_of "$BED_DIR/leaf1.pem")
	for ((i = 0; i < 100; i++)); do [[ -s $BED_DIR/ari-ids ]] && break; sleep 0.1; done
	got=$(head -n1 "$BED_DIR/ari-ids" 2>/dev/null)
	if [[ -n $want && $got == "$want" ]]; then pass ari.cert_id_asked "$got"
	else fail ari.cert_id_asked "asked '$got', expected '$want'"; fi
	# the window is 2..5 s ahead: the renewal follows without waiting for a lifetime third
	for ((i = 0; i < 200; i++)); do
		[[ $(grep -c 'acme: ari.jfe.test: certificate issued' "$JFE_LOG") -ge 2 ]] && break
		sleep 0.1
	done
	leaf_pem ari.jfe.test 443 "$ROOT" >"$BED_DIR/leaf2.pem"
	s1=$(openssl x509 -noout -serial -in "$BED_DIR/leaf1.pem" 2>/dev/null)
	s2=$(openssl x509 -noout -serial -in "$BED_DIR/leaf2.pem" 2>/dev/null)
	if grep -q 'the CA suggests renewing' "$JFE_LOG" && grep -q 'ari.jfe.test: renewing' "$JFE_LOG" &&
		[[ -n $s2 && $s1 != "$s2" ]]; then
		pass ari.renewed_in_window "$s1 -> $s2"
	else
		fail ari.renewed_in_window "serials '$s1' '$s2'"
	fi
	jfe_stop || fail ari.stop "rc=$JFE_RC"
else
	fail ari.jfe_start
fi

# ------------------------------------------------------------------ EAB
JFE_CACHE=$BED_DIR/cache-eab
if jfe_start --acme-directory "https://$ACME4:14200/dir" "${ACME_ARGS[@]}" --issue-timeout 10; then
	out=$(CURL_MAX=20 curl_in "$NS_CLI" -k -w ' %{http_code}' --resolve "noeab.jfe.test:443:$SRV4" \
		https://noeab.jfe.test/ 2>&1)
	issuer=$(served_issuer noeab.jfe.test 443)
	if [[ $out == *" 200" && $issuer == *"jfe fallback"* ]] &&
		grep -q 'externalAccountRequired' "$JFE_LOG"; then
		pass eab.required_refused "fallback served, log says externalAccountRequired"
	else
		fail eab.required_refused "out='$out' issuer='$issuer'"
	fi
	jfe_stop
else
	fail eab.jfe_start_plain
fi
JFE_CACHE=$BED_DIR/cache-eab2
if jfe_start --acme-directory "https://$ACME4:14200/dir" "${ACME_ARGS[@]}" \
	--eab-kid kid-1 --eab-hmac-key "$EAB_KEY"; then
	out=$(CURL_MAX=40 curl_in "$NS_CLI" --cacert "$EAB_ROOT" --resolve "eab.jfe.test:443:$SRV4" \
		https://eab.jfe.test/ 2>&1)
	[[ $out == *"sees peer"* ]] && pass eab.bound_account_issues || fail eab.bound_account_issues "$out"
	if grep -q "$EAB_KEY" "$JFE_LOG" || jfe_status --json | grep -q "$EAB_KEY"; then
		fail eab.key_not_logged "the EAB key shows in the log or in jfe status"
	else
		pass eab.key_not_logged
	fi
	jfe_stop
else
	fail eab.jfe_start_bound
fi

if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail ari.sanitizers_clean; else pass ari.sanitizers_clean; fi
bed_finish
