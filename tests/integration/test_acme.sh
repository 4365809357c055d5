#!/bin/bash
# tests/integration/test_acme.sh — on-demand issuance against the real Pebble (Debian's `pebble`),
# one PASS/FAIL line per check.
#
# Runs $JFE_BIN (default ./jfe) in the srv namespace of a fresh test-bed (tests/lib/bed.sh), with
# Pebble and pebble-challtestsrv in the acme namespace (tests/lib/pebble.sh), and drives it from
# the cli namespace. challtestsrv resolves every name to 10.77.0.1. Pebble instances:
#   main   :14000 (mgmt 15000)  no VA sleep, no authz reuse, 50% of good nonces rejected
#   slow   :14001 (mgmt 15001)  random VA sleeps (PEBBLE_VA_SLEEPTIME), 50% nonces rejected
#   short  :14002 (mgmt 15002)  certificates valid $SHORT_VALIDITY s, 50% nonces rejected
#   garbage :14003              a tiny HTTPS server answering non-ACME documents
#   down   :14009               nothing listens
# Backends in srv (plaintext HTTP only, tools/backend.py): 10.77.0.1:443 and 10.77.0.1:8443.
# Nothing listens on port 80: jfe answers HTTP-01 itself. Every jfe is started with
#   --acme-ca-bundle <Pebble's HTTPS CA> --public-ip 10.77.0.1 --public-ip fd77::1
#   --dns-server 10.77.0.3:8053
# Sections (each jfe run is on a cache named below):
#   01 HTTP-01, 03 20 concurrent first handshakes, 08 status JSON       main,  cache A
#   06 restart: no new order; 07 blocklisted name, name resolving elsewhere   main,  cache A
#   04 a slow CA does not hold up a name already held                  slow,  cache A
#   07 CA down, CA answering garbage (5 kinds), then the store is intact       cache A
#   02 TLS-ALPN-01 (--exclude-ports 80), 05 renewal                    short, cache B
# Environment: JFE_BIN, BED_KEEP=1, SHORT_VALIDITY (s, default 36), SLOW_SLEEP (Pebble's
# PEBBLE_VA_SLEEPTIME, default 8).
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=acme
bed_require_root

SHORT_VALIDITY=${SHORT_VALIDITY:-36}
SLOW_SLEEP=${SLOW_SLEEP:-8}
RENEW_SCAN_S=30         # jfe's renewal scan period (agent.c RENEW_SCAN_MS)
ISSUE_TIMEOUT=30        # jfe's --issue-timeout, given explicitly to every jfe below
FIRST_MAX=40            # bound of a first handshake that may wait for issuance (> ISSUE_TIMEOUT)
PROMPT_MAX=15           # bound of a handshake that must not wait out ISSUE_TIMEOUT
T0=$(now)

ALL_TESTS=(01_http01_443 01_http01_8443 02_tls_alpn01 03_concurrent_20 04_slow_ca_other_names
	05_renewal 06_restart_no_new_order 07_blocklisted 07_resolves_elsewhere 07_ca_down
	07_ca_garbage_html 07_ca_garbage_json 07_ca_garbage_nonce 07_ca_garbage_account
	07_ca_garbage_order 07_store_intact
	08_status_certificates 08_status_orders 08_status_refused sanitizers_clean)
if ! bed_up; then
	echo "FAIL: acme.bed_up"
	exit 1
fi

# ------------------------------------------------------------------ helpers
# get NAME PORT CA OUT: one HTTPS GET through jfe from cli; CA is a root file (verified, no -k)
# or "-k"; the body and the served chain (curl's %{certs}) go to OUT; returns curl's status.
get() {
	local name=$1 port=$2 ca=$3 out=$4
	local -a v=(--cacert "$ca")
	[[ $ca == -k ]] && v=(-k)
	curl_in "$NS_CLI" "${v[@]}" --resolve "$name:$port:$SRV4" -w '\n--certs--\n%{certs}' \
		"https://$name:$port/" >"$out" 2>&1
}
# a first handshake, which may wait for issuance
get_first() { CURL_MAX=$FIRST_MAX BED_TIMEOUT=$((FIRST_MAX + 5)) get "$@"; }
# the backend answered (through jfe) and saw the real client
body_ok() { grep -q "sees peer ('$CLI4'" "$1"; }
# serials as hex digits, upper case, without colons or leading zeros, one per line
norm_serial() { tr -d ': ' | tr 'a-f' 'A-F' | sed 's/^0*//'; }
# leaf_field FILE Serial|Issuer: the leaf's field from curl's %{certs} in a get output
leaf_field() {
	awk -v f="$2:" '/^--certs--/ { c = 1; next }
		c && index($0, f) == 1 { print substr($0, length(f) + 1); exit }' "$1" | sed 's/^ *//'
}
leaf_serial() { leaf_field "$1" "Serial Number" | norm_serial; }
# wait_log MARK REGEX [TIMEOUT_S=5]: a line of the current jfe log after MARK matches REGEX
wait_log() {
	local i n=$(( ${3:-5} * 10 ))
	for ((i = 0; i <= n; i++)); do
		jfe_log_since "$1" | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
count_log() { jfe_log_since "$1" | grep -Ec -- "$2"; }
# re_esc NAME: NAME as an ERE literal
# shellcheck disable=SC2001,SC2016  # a sed bracket expression, literally
re_esc() { sed 's/[.[\*^$()+?{|]/\\&/g' <<<"$1"; }
issued_re() { echo "acme: $(re_esc "$1"): certificate issued"; }
status_json() { jfe_status --json 2>/dev/null; }
# status_check WHAT [NAME…]: checks `jfe status --json` (read on stdin) with python; WHAT is
# certs (each NAME listed with a Pebble issuer and RFC 3339 times), orders (NAME in flight) or
# refused (NAME refused). Prints a one-line summary or the problem; status 0 when all is well.
status_check() {
	"$PY" -c '
import datetime, json, re, sys
what, names = sys.argv[1], sys.argv[2:]
try:
    j = json.load(sys.stdin)
except Exception as e:
    print("not JSON: %s" % e); sys.exit(1)
rfc = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
now = datetime.datetime.now(datetime.timezone.utc)
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
bad = []
key = {"certs": "certificates", "orders": "orders", "refused": "refused"}[what]
arr = j.get(key)
if not isinstance(arr, list):
    print("no %s array" % key); sys.exit(1)
byname = {e.get("name"): e for e in arr if isinstance(e, dict)}
for n in names:
    e = byname.get(n)
    if e is None:
        bad.append("%s not in %s (%s)" % (n, key, sorted(byname))); continue
    if what == "certs":
        for f in ("name", "issuer", "not_after", "renew_at"):
            if not isinstance(e.get(f), str):
                bad.append("%s: no %s" % (n, f))
        if bad: continue
        if not e["issuer"].startswith("Pebble Intermediate CA"):
            bad.append("%s: issuer %r" % (n, e["issuer"]))
        for f in ("not_after", "renew_at"):
            if not rfc.match(e[f]):
                bad.append("%s: %s %r is not RFC 3339" % (n, f, e[f]))
        if bad: continue
        na, ra = t(e["not_after"]), t(e["renew_at"])
        if not (now < ra < na):
            bad.append("%s: want now < renew_at < not_after: now %s renew_at %s not_after %s"
                       % (n, now.isoformat(), e["renew_at"], e["not_after"]))
    elif what == "orders":
        if not (isinstance(e.get("state"), str) and isinstance(e.get("challenge"), str)
                and isinstance(e.get("age_s"), int) and e["age_s"] >= 0):
            bad.append("%s: want state, challenge (strings) and age_s (int >= 0): %s" % (n, e))
    else:
        if not (isinstance(e.get("reason"), str) and e["reason"]
                and isinstance(e.get("retry_in_s"), int) and e["retry_in_s"] > 0):
            bad.append("%s: want reason and retry_in_s > 0: %s" % (n, e))
if bad:
    print("; ".join(bad)); sys.exit(1)
print("; ".join(json.dumps(byname[n], sort_keys=True) for n in names))
' "$@"
}

# ------------------------------------------------------------------ CAs, DNS, backends
# The garbage CA: /html/dir answers an HTML page, /wrong/dir JSON that is no ACME directory;
# under /nononce/, /badacct/ and /badorder/ a usable directory whose newNonce gives no
# Replay-Nonce, whose newAccount answers 200 with junk (no Location), or whose newOrder answers
# 200 with junk (after an account that "works"). Nothing is checked, every request is logged.
GARBAGE_PY='
import base64, http.server, os, ssl, sys
host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = "https://%s:%d" % (host, port)
JUNK = b"\x00\xff garbage \xfe"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        p, kind = self.path, self.path.split("/")[1]
        code, ctype, body, hdrs = 200, "application/json", JUNK, {}
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if kind != "nononce":
            hdrs["Replay-Nonce"] = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if kind == "html":
            ctype, body = "text/html", b"<html><body>Welcome to nginx!</body></html>\n"
        elif kind == "wrong":
            body = b"{\"newNonce\": 5, \"newAccount\": [\"x\"], \"hello\": \"world\"}\n"
        elif p.endswith("/dir"):
            body = ("{\"newNonce\": \"%s/%s/nonce\", \"newAccount\": \"%s/%s/acct\", "
                    "\"newOrder\": \"%s/%s/order\"}\n" % (base, kind, base, kind, base, kind)).encode()
        elif p.endswith("/nonce"):
            ctype, body = "text/plain", b""
        elif p.endswith("/acct") and kind != "badacct":
            code, body = 201, b"{\"status\": \"valid\"}\n"
            hdrs["Location"] = "%s/%s/acct/1" % (base, kind)
        else:
            ctype = "application/octet-stream"
        print("REQ", self.command, p, "->", code, flush=True)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    do_GET = do_HEAD = do_POST = answer
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
s = S((host, port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("LISTEN", host, port, flush=True)
s.serve_forever()
'
# A TLS client that keeps its connection open: handshake (verified), print the leaf serial,
# wait for TRIGGER to exist (at most LIMIT s), then send a GET on the same connection.
LONGCONN_PY='
import os, socket, ssl, sys, time
host, port, sni, ca, trigger, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection((host, port), 45)
s.settimeout(45)
t = ctx.wrap_socket(s, server_hostname=sni)
print("SERIAL", t.getpeercert()["serialNumber"], flush=True)
end = time.monotonic() + limit
while not os.path.exists(trigger):
    if time.monotonic() > end:
        print("FAIL no trigger within %.0fs" % limit, flush=True)
        sys.exit(1)
    time.sleep(0.1)
t.settimeout(10)
try:
    t.sendall(("GET /long HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % sni).encode())
    buf = b""
    while True:
        try:
            d = t.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            d = b""
        if not d:
            break
        buf += d
except OSError as e:
    print("FAIL %r" % e, flush=True)
    sys.exit(1)
print("REPLY", buf.decode(errors="replace").replace("\r\n", " | ").strip(), flush=True)
'

setup_ok=1
pebble_certs "$BED_DIR/pebble" || setup_ok=0
[[ $setup_ok == 1 ]] && { chall_start || setup_ok=0; }
# "retryAfter" is ignored by Pebble 2.4.0 (no such setting yet); newer Pebbles honour it.
COMMON_ENV=(PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=50)
COMMON_JSON=('"retryAfter": {"authz": 1, "order": 1}')
if [[ $setup_ok == 1 ]]; then
	pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1 "${COMMON_ENV[@]}" -- "${COMMON_JSON[@]}" || setup_ok=0
	pebble_start slow 14001 15001 "PEBBLE_VA_SLEEPTIME=$SLOW_SLEEP" "${COMMON_ENV[@]}" -- "${COMMON_JSON[@]}" || setup_ok=0
	pebble_start short 14002 15002 PEBBLE_VA_NOSLEEP=1 "${COMMON_ENV[@]}" -- "${COMMON_JSON[@]}" \
		"\"certificateValidityPeriod\": $SHORT_VALIDITY" || setup_ok=0
	ROOT_MAIN=$(pebble_root 15000) || setup_ok=0
	ROOT_SLOW=$(pebble_root 15001) || setup_ok=0
	ROOT_SHORT=$(pebble_root 15002) || setup_ok=0
	spawn "$NS_ACME" garbage-ca.log "$PY" -u -c "$GARBAGE_PY" "$ACME4" 14003 "$PEBBLE_DIR/cert.pem" "$PEBBLE_DIR/key.pem"
	wait_port "$NS_ACME" "$ACME4" 14003 10 || setup_ok=0
fi
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443 "$SRV4" 8443
wait_port "$NS_SRV" "$SRV4" 443 10 && wait_port "$NS_SRV" "$SRV4" 8443 10 || setup_ok=0
if _listening "$NS_SRV" "$SRV4" 80; then
	bed_log "something listens on port 80 in srv: HTTP-01 must be answered by jfe alone"
	setup_ok=0
fi
if [[ $setup_ok == 0 ]]; then
	fail acme.setup "Pebble, challtestsrv, the garbage CA or the backends did not start" \
		challtestsrv.log pebble-main.log pebble-slow.log pebble-short.log garbage-ca.log backend.log
	not_run . "set-up failed"
	bed_finish
fi
URL_MAIN=${PEBBLE_URL[main]} URL_SLOW=${PEBBLE_URL[slow]} URL_SHORT=${PEBBLE_URL[short]}
URL_DOWN=https://$ACME4:14009/dir
JFE_ACME_ARGS=(--acme-ca-bundle "$PEBBLE_DIR/ca.pem" --public-ip "$SRV4" --public-ip "$SRV6"
	--dns-server "$CHALL_DNS" --issue-timeout "$ISSUE_TIMEOUT")
# jfe_acme DIRECTORY-URL [ARGS…]: jfe_start on the current $JFE_CACHE
jfe_acme() { local d=$1; shift; jfe_start --acme-directory "$d" "${JFE_ACME_ARGS[@]}" "$@"; }
bed_log "set-up done after $(elapsed "$T0")s"

CACHE_A=$BED_DIR/cache-a CACHE_B=$BED_DIR/cache-b
JFE_CACHE=$CACHE_A

# ------------------------------------------------------------------ 1. HTTP-01
# first_issue TEST NAME PORT ROOT CHAL: a first handshake for a new name succeeds, verified
# against ROOT, with a Pebble certificate that `jfe status --json` lists; jfe logs its issuance
# and CHAL validation connections (from Pebble, none of the other type).
first_issue() {
	local t=$1 name=$2 port=$3 root=$4 chal=$5 out=$BED_DIR/get-$2-$3 mark rc tm info iss nv other st
	mark=$(jfe_log_mark)
	tm=$(now)
	get_first "$name" "$port" "$root" "$out"; rc=$?
	tm=$(elapsed "$tm")
	info=$(served_cert "$name" "$port" "$root")
	iss=$(sed -n 's/^issuer=//p' <<<"$info")
	nv=$(count_log "$mark" "client=$(re_esc "$ACME4"):[0-9]+ dst=$(re_esc "$SRV4"):(80|443) .*end=acme-$chal\$")
	other=$(count_log "$mark" "end=acme-(http-01|tls-alpn-01)\$")
	if [[ $rc != 0 ]] || ! body_ok "$out"; then
		report fail "$t" "curl --cacert <Pebble root> https://$name:$port/ -> rc $rc after ${tm}s: $(head -c 400 "$out")" backend.log
	elif [[ $iss != *"Pebble Intermediate CA"* || $info != *verify=0* ]]; then
		report fail "$t" "served certificate is not Pebble's or does not verify: $info"
	elif [[ $(count_log "$mark" "$(issued_re "$name")") != 1 ]]; then
		report fail "$t" "want one '$(issued_re "$name")' line, got $(count_log "$mark" "$(issued_re "$name")")"
	elif ! st=$(status_json | status_check certs "$name"); then
		report fail "$t" "issued and served, but jfe status --json does not list it properly: $st"
	elif [[ $nv -lt 1 || $nv != "$other" ]]; then
		report fail "$t" "want end=acme-$chal validation connections from $ACME4 only: $nv of $other acme validation line(s)
$(jfe_log_since "$mark" | grep -E 'end=acme-' | head -5)"
	else
		report pass "$t" "first handshake ${tm}s; $(grep -m1 'sees peer' "$out"); issuer $iss (also in jfe status); $nv end=acme-$chal connection(s)"
	fi
}

if jfe_acme "$URL_MAIN"; then
	first_issue 01_http01_443 www.jfe.test 443 "$ROOT_MAIN" http-01
	first_issue 01_http01_8443 alt.jfe.test 8443 "$ROOT_MAIN" http-01

	# ------------------------------------------------------------------ 8. status: certificates
	if out=$(status_json | status_check certs www.jfe.test alt.jfe.test); then
		report pass 08_status_certificates "$out"
	else
		report fail 08_status_certificates "jfe status --json: $out"
	fi

	# ------------------------------------------------------------------ 3. 20 concurrent first handshakes
	name=c20.jfe.test
	mark=$(jfe_log_mark)
	before=$(pebble_issued main)
	orders_before=$(pebble_orders main)
	pids=()
	tm=$(now)
	for i in $(seq 20); do
		get_first "$name" 443 "$ROOT_MAIN" "$BED_DIR/c20.$i" &
		pids+=($!)
	done
	okn=0 bad=
	for i in $(seq 20); do
		wait "${pids[$((i - 1))]}"; rc=$?
		if [[ $rc == 0 ]] && body_ok "$BED_DIR/c20.$i"; then okn=$((okn + 1))
		else bad+="#$i rc $rc: $(head -c 200 "$BED_DIR/c20.$i" | tr '\n' ' ')"$'\n'; fi
	done
	tm=$(elapsed "$tm")
	serials=$(for i in $(seq 20); do leaf_serial "$BED_DIR/c20.$i"; done | sort | uniq -c)
	nserial=$(grep -c . <<<"$serials")
	s1=$(served_serial "$name" 443 "$ROOT_MAIN" | norm_serial)
	s2=$(served_serial "$name" 443 "$ROOT_MAIN" | norm_serial)
	sleep 0.5   # let a (wrong) second order show up
	nissued=$(count_log "$mark" "$(issued_re "$name")")
	pissued=$(( $(pebble_issued main) - before ))
	porders=$(( $(pebble_orders main) - orders_before ))
	if [[ $okn == 20 && $nserial == 1 && $nissued == 1 && $pissued == 1 && $porders == 1 && -n $s1 &&
		$s1 == "$s2" && $serials == *" $s1" ]]; then
		report pass 03_concurrent_20 "20/20 verified in ${tm}s, all with serial $s1 (2 s_client runs after too); 1 'certificate issued'; Pebble: 1 order, 1 certificate"
	else
		report fail 03_concurrent_20 "want 20/20 verified with one serial, one jfe order, one Pebble order and issuance:
$okn/20 succeeded in ${tm}s; jfe 'certificate issued' lines: $nissued; Pebble orders: $porders, issued: $pissued
serials seen by curl (count serial): $(tr '\n' ' ' <<<"$serials"); s_client afterwards: $s1 $s2
${bad}" pebble-main.log
	fi

	# ------------------------------------------------------------------ 6. restart: no new order
	jfe_stop TERM 10; rc=$JFE_RC
	before=$(pebble_issued main)
	orders_before=$(pebble_orders main)
	if [[ $rc != 0 ]]; then
		report fail 06_restart_no_new_order "SIGTERM -> exit status $rc (want 0)"
	elif ! jfe_acme "$URL_MAIN"; then
		report fail 06_restart_no_new_order "jfe did not start again on the same cache"
	else
		get www.jfe.test 443 "$ROOT_MAIN" "$BED_DIR/restart.get"; rc=$?
		get alt.jfe.test 8443 "$ROOT_MAIN" "$BED_DIR/restart2.get"; rc2=$?
		sleep 1.5   # past jfe's first renewal scan (1 s after start)
		loaded=$(grep -oE 'agent: [0-9]+ of [0-9]+ stored certificates loaded' "$JFE_LOG")
		new=$(grep -E 'certificate issued|renewing|acme: [^ ]+: ' "$JFE_LOG")
		pissued=$(( $(pebble_issued main) - before ))
		porders=$(( $(pebble_orders main) - orders_before ))
		if [[ $rc == 0 && $rc2 == 0 ]] && body_ok "$BED_DIR/restart.get" && body_ok "$BED_DIR/restart2.get" &&
			[[ $loaded == "agent: 3 of 3 stored certificates loaded" && -z $new && $pissued == 0 && $porders == 0 ]]; then
			report pass 06_restart_no_new_order "SIGTERM exit 0; '$loaded'; www and alt served and verified; no jfe order, Pebble: no order, no certificate"
		else
			report fail 06_restart_no_new_order "after restart on the same cache: www rc $rc, alt rc $rc2 ($(head -c 200 "$BED_DIR/restart.get"))
log: '${loaded:-no stored-certificates line}' (want 3 of 3); order lines: ${new:-none}; Pebble orders $porders, issued $pissued (want 0, 0)"
		fi
	fi
else
	fail acme.jfe_start_main "jfe did not start with --acme-directory $URL_MAIN"
	not_run '^0[1368]_' "jfe did not start"
fi

# ------------------------------------------------------------------ 7. refusals: blocklist, elsewhere
# fallback_check TEST NAME REASON-REGEX [EXTRA-CMD…]: the handshake completes before the issue
# timeout with jfe's fallback certificate, and a log line names NAME with REASON-REGEX; EXTRA-CMD,
# when given, must succeed too (it may set FB_EXTRA to explain a failure). Reports TEST.
fallback_check() {
	local t=$1 name=$2 why=$3 out=$BED_DIR/get-$2 mark rc tm info
	shift 3
	mark=$(jfe_log_mark)
	tm=$(now)
	CURL_MAX=$PROMPT_MAX BED_TIMEOUT=$((PROMPT_MAX + 5)) get "$name" 443 -k "$out"; rc=$?
	tm=$(elapsed "$tm")
	info=$(served_cert "$name" 443)
	wait_log "$mark" "$(re_esc "$name").*$why" 3
	FB_LINES=$(jfe_log_since "$mark" | grep -F -- "$name" | grep -v ' conn client=')
	FB_EXTRA=
	if [[ $rc != 0 ]] || ! body_ok "$out"; then
		report fail "$t" "curl -k https://$name/ -> rc $rc after ${tm}s (want the backend's answer within ${PROMPT_MAX}s, before the ${ISSUE_TIMEOUT}s issue timeout): $(head -c 300 "$out")"
	elif [[ $info != *"O = jfe fallback"* || $info == *Pebble* ]]; then
		report fail "$t" "want jfe's fallback certificate, got: $info"
	elif ! grep -Eq -- "$why" <<<"$FB_LINES"; then
		report fail "$t" "no log line naming $name matches /$why/; lines naming it:
${FB_LINES:-none}"
	elif (($#)) && ! "$@"; then
		report fail "$t" "fallback served in ${tm}s, but: $FB_EXTRA"
	else
		report pass "$t" "fallback in ${tm}s ($(grep '^subject=' <<<"$info")); log: $(grep -E -m1 -- "$why" <<<"$FB_LINES")"
	fi
}
# no_order_placed: nothing was ordered for elsewhere.jfe.test (Pebble saw no newOrder since
# $ORDERS_BEFORE, jfe's ACME engine never named it)
# shellcheck disable=SC2317  # called through fallback_check
no_order_placed() {
	local after
	after=$(grep -c 'POST /order-plz' "${PEBBLE_LOG[main]}")
	if [[ $after != "$ORDERS_BEFORE" ]] || grep -q 'acme: elsewhere' <<<"$FB_LINES"; then
		FB_EXTRA="an order was placed: Pebble newOrder requests $ORDERS_BEFORE -> $after; jfe: $FB_LINES"
		return 1
	fi
}

if [[ -n $JFE_PID ]]; then
	fallback_check 07_blocklisted blocked.jfe.test 'rejectedIdentifier'
	if chall_add_a elsewhere.jfe.test 10.77.0.9; then
		ORDERS_BEFORE=$(grep -c 'POST /order-plz' "${PEBBLE_LOG[main]}")
		fallback_check 07_resolves_elsewhere elsewhere.jfe.test 'refused: does not resolve to this host' no_order_placed
	else
		report fail 07_resolves_elsewhere "challtestsrv /add-a failed"
	fi
	human=$(jfe_status 2>&1)
	if out=$(status_json | status_check refused blocked.jfe.test elsewhere.jfe.test) &&
		grep -Eq '^  refused +elsewhere\.jfe\.test +does not resolve to this host' <<<"$human" &&
		grep -Eq '^  budget +[0-9]+ of [0-9]+ new names this hour' <<<"$human"; then
		report pass 08_status_refused "$out; the human view lists it with the budgets"
	else
		report fail 08_status_refused "jfe status --json: $out
$human"
	fi
	jfe_stop TERM 10
fi

# ------------------------------------------------------------------ 4. a slow CA
# jfe on the slow Pebble, cache A: www.jfe.test is held (issued by main). A first handshake for a
# new name waits on the slow order in the background; meanwhile 10 sequential handshakes for
# www must all complete while that order is still in flight.
if jfe_acme "$URL_SLOW"; then
	verdict=inconclusive detail=
	for try in 1 2 3; do
		name=slow$try.jfe.test
		mark=$(jfe_log_mark)
		get_first "$name" 443 "$ROOT_SLOW" "$BED_DIR/slow.$try" &
		bgpid=$!
		inflight=0
		for ((i = 0; i < 50; i++)); do
			status_json | status_check orders "$name" >/dev/null && { inflight=1; break; }
			grep -Eq -- "$(issued_re "$name")" <(jfe_log_since "$mark") && break
			sleep 0.1
		done
		oks=0 fails=
		for i in $(seq 10); do
			if get www.jfe.test 443 "$ROOT_MAIN" "$BED_DIR/slow-known.$try.$i" && body_ok "$BED_DIR/slow-known.$try.$i"; then
				oks=$((oks + 1))
			else fails+="#$i: $(head -c 200 "$BED_DIR/slow-known.$try.$i" | tr '\n' ' ') "; fi
		done
		st=$(status_json)
		still=$(status_check orders "$name" <<<"$st")
		stillrc=$?
		issued_n=$(count_log "$mark" "$(issued_re "$name")")
		# the log order too: the 10 conn lines for www precede the slow name's issuance
		conn_before=$(jfe_log_since "$mark" | awk -v iss="acme: $name: certificate issued" '
			index($0, iss) { exit } /sni="www.jfe.test"/ { n++ } END { print n + 0 }')
		wait "$bgpid"; bgrc=$?
		sleeps=$(grep -oE 'Sleeping for [0-9.]+s? seconds' "${PEBBLE_LOG[slow]}" | tail -n 3 | tr '\n' ' ')
		if [[ $oks != 10 ]]; then
			verdict=fail detail="try $try: $oks/10 handshakes for www.jfe.test succeeded while $name was being issued: $fails"
			break
		fi
		if [[ $stillrc == 0 && $issued_n == 0 && $conn_before -ge 10 ]]; then
			if [[ $bgrc == 0 ]] && body_ok "$BED_DIR/slow.$try" && [[ $(leaf_field "$BED_DIR/slow.$try" Issuer) == *Pebble* ]]; then
				verdict=pass detail="try $try: 10/10 www handshakes done while $name was in flight ($still); then $name got its certificate; Pebble: $sleeps"
			else
				verdict=fail detail="try $try: 10/10 www handshakes done while $name was in flight, but $name's own first handshake failed: rc $bgrc: $(head -c 300 "$BED_DIR/slow.$try")"
			fi
			break
		fi
		detail+="try $try: inconclusive: order seen in flight before: $inflight; after the 10: '$still'; '$name: certificate issued' lines: $issued_n; www conn lines before it: $conn_before; Pebble: $sleeps"$'\n'
	done
	case $verdict in
	pass) report pass 04_slow_ca_other_names "$detail" ;;
	fail) report fail 04_slow_ca_other_names "$detail" pebble-slow.log ;;
	*) report fail 04_slow_ca_other_names "inconclusive after 3 names (the slow order finished before the 10 handshakes did):
$detail" pebble-slow.log ;;
	esac
	# the orders entry while in flight, for 8
	if [[ $verdict == pass ]]; then report pass 08_status_orders "$still"
	else report fail 08_status_orders "no order seen in flight in jfe status --json: $detail"; fi
	jfe_stop TERM 10
else
	fail acme.jfe_start_slow "jfe did not start with --acme-directory $URL_SLOW"
	not_run '^(04_|08_status_orders)' "jfe did not start"
fi

# ------------------------------------------------------------------ 7. CA faults
# ca_fault TEST DIRECTORY-URL NAME CONTROL-CMD…: jfe on a broken CA serves the fallback promptly
# and logs why the name was not issued.
ca_fault() {
	local t=$1 url=$2 name=$3
	if jfe_acme "$url"; then
		fallback_check "$t" "$name" "not issued \(.+\)"
		jfe_stop TERM 10
	else
		report fail "$t" "jfe did not start with --acme-directory $url"
	fi
}
if _listening "$NS_ACME" "$ACME4" 14009; then
	report fail 07_ca_down "control failed: something listens on $ACME4:14009"
else
	ca_fault 07_ca_down "$URL_DOWN" down.jfe.test
fi
ca_fault 07_ca_garbage_html "https://$ACME4:14003/html/dir" html.jfe.test
ca_fault 07_ca_garbage_json "https://$ACME4:14003/wrong/dir" wrong.jfe.test
ca_fault 07_ca_garbage_nonce "https://$ACME4:14003/nononce/dir" nononce.jfe.test
ca_fault 07_ca_garbage_account "https://$ACME4:14003/badacct/dir" badacct.jfe.test
ca_fault 07_ca_garbage_order "https://$ACME4:14003/badorder/dir" badorder.jfe.test

# after all that, the store still loads: the names of 1 and 3 (and 4's) are served
if jfe_acme "$URL_MAIN"; then
	loaded=$(grep -oE 'agent: [0-9]+ of [0-9]+ stored certificates loaded' "$JFE_LOG")
	bad=
	for np in www.jfe.test:443 alt.jfe.test:8443 c20.jfe.test:443; do
		get "${np%:*}" "${np#*:}" "$ROOT_MAIN" "$BED_DIR/intact.${np%:*}" && body_ok "$BED_DIR/intact.${np%:*}" ||
			bad+="${np%:*}: $(head -c 200 "$BED_DIR/intact.${np%:*}") "
	done
	if [[ $loaded =~ agent:\ ([0-9]+)\ of\ ([0-9]+) ]] && [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" && ${BASH_REMATCH[1]} -ge 3 && -z $bad ]]; then
		report pass 07_store_intact "'$loaded'; www, alt and c20 served and verified"
	else
		report fail 07_store_intact "after the fault runs: '${loaded:-no stored-certificates line}' (want N of N, N >= 3); failures: ${bad:-none}"
	fi
	jfe_stop TERM 10
else
	report fail 07_store_intact "jfe did not start again on cache A"
fi

# ------------------------------------------------------------------ 2. TLS-ALPN-01 and 5. renewal (short-lived certificates)
JFE_CACHE=$CACHE_B
if ! grep -q "Using certificate validity period of $SHORT_VALIDITY seconds" "${PEBBLE_LOG[short]}"; then
	fail acme.short_validity "Pebble 'short' did not take certificateValidityPeriod $SHORT_VALIDITY" pebble-short.log
	not_run '^0[25]_' "Pebble short-validity instance not usable"
elif ! jfe_acme "$URL_SHORT" --exclude-ports 80; then
	fail acme.jfe_start_short "jfe did not start with --acme-directory $URL_SHORT --exclude-ports 80"
	not_run '^0[25]_' "jfe did not start"
else
	first_issue 02_tls_alpn01 tls.jfe.test 443 "$ROOT_SHORT" tls-alpn-01

	name=renew.jfe.test
	get_first "$name" 443 "$ROOT_SHORT" "$BED_DIR/renew.1"; rc=$?
	serial1=$(leaf_serial "$BED_DIR/renew.1")
	t_issued=$(date +%s)
	mark=$(jfe_log_mark)
	trigger=$BED_DIR/renew.trigger
	limit=$((SHORT_VALIDITY + RENEW_SCAN_S + 30))
	if [[ $rc != 0 ]] || ! body_ok "$BED_DIR/renew.1" || [[ -z $serial1 ]]; then
		report fail 05_renewal "first handshake for $name: rc $rc: $(head -c 300 "$BED_DIR/renew.1")"
	else
		spawn "$NS_CLI" longconn.log "$PY" -u -c "$LONGCONN_PY" "$SRV4" 443 "$name" "$ROOT_SHORT" "$trigger" "$limit"
		lpid=$LASTPID
		for ((i = 0; i < 100; i++)); do grep -q '^SERIAL\|^FAIL' "$BED_DIR/longconn.log" && break; sleep 0.1; done
		lserial=$(sed -n 's/^SERIAL //p' "$BED_DIR/longconn.log" | norm_serial)
		# renewal: at 2/3 of the lifetime, found by the next scan (every RENEW_SCAN_S s)
		deadline=$((t_issued + SHORT_VALIDITY + RENEW_SCAN_S + 15))
		renewed=0
		while (( $(date +%s) < deadline )); do
			if grep -q "agent: $name: renewing" <(jfe_log_since "$mark") &&
				grep -Eq -- "$(issued_re "$name")" <(jfe_log_since "$mark"); then renewed=1; break; fi
			_alive "$JFE_PID" || break
			sleep 0.5
		done
		t_renew=$(( $(date +%s) - t_issued ))
		: >"$trigger"
		for ((i = 0; i < 100; i++)); do _alive "$lpid" || break; sleep 0.1; done
		reply=$(grep -E '^(REPLY|FAIL)' "$BED_DIR/longconn.log")
		info=$(served_cert "$name" 443 "$ROOT_SHORT")
		serial2=$(sed -n 's/^serial=//p' <<<"$info" | norm_serial)
		if [[ $renewed != 1 ]]; then
			report fail 05_renewal "no 'agent: $name: renewing' + second 'certificate issued' within ${SHORT_VALIDITY}+${RENEW_SCAN_S}+15 s of the first issuance (waited ${t_renew}s); lines naming it since: $(jfe_log_since "$mark" | grep -F "$name" | grep -v ' conn ' | head -5)" pebble-short.log
		elif [[ $lserial != "$serial1" ]]; then
			report fail 05_renewal "the long-lived connection's handshake did not get the first certificate: serial '$lserial' vs '$serial1': $(cat "$BED_DIR/longconn.log")"
		elif [[ $reply != REPLY*"sees peer ('$CLI4'"* ]]; then
			report fail 05_renewal "renewed after ${t_renew}s, but the connection opened before it no longer works: ${reply:-no output}" longconn.log backend.log
		elif [[ -z $serial2 || $serial2 == "$serial1" || $info != *verify=0* ]]; then
			report fail 05_renewal "renewed after ${t_renew}s, but a new connection is not served a new verified certificate: first serial $serial1, now: $info"
		else
			report pass 05_renewal "renewed ${t_renew}s after issuance: serial $serial1 -> $serial2 (verified); the connection opened before the renewal still answers: ${reply#REPLY }"
		fi
	fi
	jfe_stop TERM 10
fi

# ------------------------------------------------------------------ sanitizers
not_run '^0' "an earlier step failed"
JFE_PID=''
JFE_LOG=
if reports=$(jfe_sanitizer_reports); then
	report fail sanitizers_clean "sanitizer reports in jfe's logs:
$reports"
else
	report pass sanitizers_clean "no ASan/LSan/UBSan report in ${#JFE_LOGS[@]} jfe log(s)"
fi

echo "# acme: $(elapsed "$T0")s"
bed_finish
