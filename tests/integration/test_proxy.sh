#!/bin/bash
# tests/integration/test_proxy.sh — the proxy core's must-show list, one PASS/FAIL line per check.
#
# Runs $JFE_BIN (default ./jfe) in the srv namespace of a fresh test-bed (tests/lib/bed.sh) and
# drives it from the cli namespace. Backends in srv (all plaintext-only):
#   10.77.0.1:8080, [fd77::1]:8080   HTTP, answers with the peer address it sees (tools/backend.py)
#   127.0.0.1:9090                   HTTP bound to loopback only
#   10.77.0.1:22                     HTTP on the never-intercepted port 22
#   10.77.0.1:2525                   server-first greeter (tools/greeter.py)
#   10.77.0.1:5001                   bulk sink/source (tools/bulk.py)
# and in cli: 10.77.0.2:7070, [fd77::2]:7070 HTTP (the srv host's own outbound connections).
# Environment: JFE_BIN, BULK_MIB (default 64), PARALLEL (default 200), BED_KEEP=1.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
BED_NAME=proxy
bed_require_root

BULK_MIB=${BULK_MIB:-64}
PARALLEL=${PARALLEL:-200}
T0=$(now)

if ! bed_up; then
	echo "FAIL: proxy.bed_up"
	exit 1
fi

# ------------------------------------------------------------------ backends
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 8080 "$SRV6" 8080
spawn "$NS_SRV" backend-lo.log "$PY" -u "$BED_TOOLS/backend.py" 127.0.0.1 9090
spawn "$NS_SRV" backend-22.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 22
spawn "$NS_SRV" greeter.log "$PY" -u "$BED_TOOLS/greeter.py" server "$SRV4" 2525
spawn "$NS_SRV" bulk.log "$PY" -u "$BED_TOOLS/bulk.py" server "$SRV4" 5001
spawn "$NS_CLI" backend-cli.log "$PY" -u "$BED_TOOLS/backend.py" "$CLI4" 7070 "$CLI6" 7070
ok=1
for hp in "$NS_SRV $SRV4 8080" "$NS_SRV $SRV6 8080" "$NS_SRV 127.0.0.1 9090" "$NS_SRV $SRV4 22" \
	"$NS_SRV $SRV4 2525" "$NS_SRV $SRV4 5001" "$NS_CLI $CLI4 7070" "$NS_CLI $CLI6 7070"; do
	# shellcheck disable=SC2086
	wait_port $hp 10 || ok=0
done
if [[ $ok == 0 ]]; then
	fail proxy.backends_up "a test backend did not start" backend.log backend-lo.log backend-22.log greeter.log bulk.log backend-cli.log
	bed_finish
fi

# wait_log_line MARK REGEX [TIMEOUT_S=3]: a jfe log line written after MARK matches REGEX
wait_log_line() {
	local i n=$(( ${3:-3} * 10 ))
	for ((i = 0; i <= n; i++)); do
		jfe_log_since "$1" | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
peer_is() { [[ $1 == *"sees peer ('$2'"* ]]; }
# The kernel settings of the socket-mark return path in srv ("1 1 1" while jfe uses it, "0 0 0"
# in a new namespace), and srv's conntrack entries ("none" without the conntrack module).
rp_values() {
	local k
	for k in net.ipv4.tcp_fwmark_accept net.ipv4.fwmark_reflect net.ipv6.fwmark_reflect; do
		ip netns exec "$NS_SRV" sysctl -n "$k"
	done | tr '\n' ' ' | sed 's/ $//'
}
ct_count() { ip netns exec "$NS_SRV" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo none; }
RP_BEFORE=$(rp_values)

# ------------------------------------------------------------------ 10. bad CLI (before any jfe runs)
bad_cli() { # NAME WORD ARGS…: exit 2, exactly one output line naming WORD, nothing installed
	local name=$1 word=$2 out rc nlines extra
	shift 2
	out=$(in_srv "$JFE_BIN" run -c "$BED_DIR/badcache" --acme-directory none \
		--control-socket "$BED_DIR/bad.sock" "$@" 2>&1 </dev/null)
	rc=$?
	nlines=$(printf '%s' "$out" | grep -c '')
	extra=$(bed_extra_rules)
	if [[ $rc == 2 && $nlines == 1 && $out == *"$word"* ]] && ! nft_has_jfe_table && [[ -z $extra ]]; then
		pass "$name" "$out"
	else
		fail "$name" "jfe run $* -> exit $rc (want 2), $nlines output line(s) (want 1 naming '$word'):
$(printf '%s\n' "$out" | head -20)
table inet jfe present: $(nft_has_jfe_table && echo yes || echo no); extra ip rules: ${extra:-none}"
	fi
}
bad_cli proxy.10_bad_cli_ports_70000 ports --ports 70000
bad_cli proxy.10_bad_cli_unknown_option bogus --bogus
bad_cli proxy.10_bad_cli_missing_config config --config /nonexistent
bad_cli proxy.10_bad_cli_return_path return-path --return-path nat
bad_cli proxy.10_bad_cli_upstream_mark upstream-mark --upstream-mark 0x6a6665

# ------------------------------------------------------------------ 11. status (not running), rules
JFE_SOCK=$BED_DIR/control.sock
out=$(jfe_status 2>&1); rc=$?
if [[ $rc == 3 ]]; then pass proxy.11_status_not_running "$out"
else fail proxy.11_status_not_running "jfe status --control-socket (nothing there) -> exit $rc, want 3: $out"; fi

bed_scratch_ns
scratch=$BED_SCRATCH
rules_ok=1 detail=
for args in "" "--ports 8000-9000,9443 --exclude-ports 8081 --listen-port 15001 --return-path conntrack"; do
	# shellcheck disable=SC2086
	in_srv "$JFE_BIN" rules $args >"$BED_DIR/rules.nft" 2>"$BED_DIR/rules.err"; rc=$?
	if [[ $rc != 0 || ! -s $BED_DIR/rules.nft ]]; then
		rules_ok=0; detail+="jfe rules $args -> exit $rc, $(wc -c <"$BED_DIR/rules.nft") bytes: $(head -5 "$BED_DIR/rules.err")"$'\n'
		continue
	fi
	if ! chk=$(ip netns exec "$scratch" nft -c -f "$BED_DIR/rules.nft" 2>&1); then
		rules_ok=0; detail+="nft -c rejects 'jfe rules $args': $chk"$'\n'
	elif ! grep -q tproxy "$BED_DIR/rules.nft"; then
		rules_ok=0; detail+="'jfe rules $args' has no tproxy statement"$'\n'
	fi
done
if [[ $rules_ok == 1 ]] && ! nft_has_jfe_table "$scratch"; then pass proxy.11_rules_accepted_by_nft
else fail proxy.11_rules_accepted_by_nft "${detail}table left in scratch namespace: $(nft_has_jfe_table "$scratch" && echo yes || echo no)"; fi

# ------------------------------------------------------------------ start jfe
if ! jfe_start; then
	fail proxy.start "jfe did not come up (listener 127.0.0.1:$JFE_LISTEN_PORT + table inet jfe) in ${JFE_START_TIMEOUT:-20}s"
	for t in 11_status_running 01_plain_v4 01_plain_v6 02_tls 03_loopback_only 04_server_first \
		05_bulk 06_kill9_restart_sigterm 07_host_outbound 08_port22 09_no_preserve_source 12_parallel \
		13_client_port_reuse 14_return_path_socket_mark 15_return_path_conntrack \
		16_read_only_sysctls_fall_back; do
		echo "FAIL: proxy.$t"; echo "  # not run: jfe did not start"; BED_FAILED=$((BED_FAILED + 1))
	done
	bed_finish
fi
pass proxy.start "up after $(elapsed "$T0")s since the test began"

out=$(jfe_status 2>&1); rc=$?
if [[ $rc == 0 ]]; then pass proxy.11_status_running
else fail proxy.11_status_running "jfe status -> exit $rc, want 0: $out"; fi
out=$(jfe_status --json 2>&1); rc=$?
if [[ $rc == 0 ]] && printf '%s' "$out" | "$PY" -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; then
	pass proxy.11_status_json
else fail proxy.11_status_json "jfe status --json -> exit $rc, not one JSON document: $(printf '%s' "$out" | head -5)"; fi

# ------------------------------------------------------------------ 1. plaintext HTTP, v4 and v6
for v in 4 6; do
	if [[ $v == 4 ]]; then url=http://$SRV4:8080/ want=$CLI4; else url=http://[$SRV6]:8080/ want=$CLI6; fi
	mark=$(jfe_log_mark)
	out=$(curl_in "$NS_CLI" "$url" 2>&1); rc=$?
	if [[ $rc == 0 ]] && peer_is "$out" "$want"; then
		if wait_log_line "$mark" "$want"; then pass "proxy.01_plain_v$v" "$out"
		else fail "proxy.01_plain_v$v" "backend answered ($out) but jfe -v logged no line naming client $want: not intercepted?"; fi
	else
		fail "proxy.01_plain_v$v" "curl $url -> rc $rc: $out (want: sees peer ('$want'…)" backend.log
	fi
done

# ------------------------------------------------------------------ 2. TLS to a plaintext-only port
tls_curl() { # NAME WANT-PEER SNI-NAME-OR-EMPTY CURL-ARGS…
	local name=$1 want=$2 sni=$3 out rc mark
	shift 3
	mark=$(jfe_log_mark)
	out=$(curl_in "$NS_CLI" -k "$@" 2>&1); rc=$?
	if [[ $rc != 0 ]] || ! peer_is "$out" "$want"; then
		fail "$name" "curl -k $* -> rc $rc: $out (want: sees peer ('$want'…)"
	elif [[ -n $sni ]] && ! wait_log_line "$mark" "$sni"; then
		fail "$name" "page served over TLS ($out), but jfe -v logged no line with SNI $sni"
	else
		pass "$name" "$out"
	fi
}
tls_curl proxy.02_tls_v4_sni "$CLI4" www.jfe.test --resolve "www.jfe.test:8080:$SRV4" https://www.jfe.test:8080/
tls_curl proxy.02_tls_v4_no_sni "$CLI4" "" "https://$SRV4:8080/"
tls_curl proxy.02_tls_v6_sni "$CLI6" www6.jfe.test --resolve "www6.jfe.test:8080:[$SRV6]" https://www6.jfe.test:8080/
tls_curl proxy.02_tls_v6_no_sni "$CLI6" "" "https://[$SRV6]:8080/"

s_client() { in_cli openssl s_client -connect "$1" "${@:2}" -brief </dev/null 2>&1; }
for ver in 1_3 1_2; do
	want=TLSv${ver/_/.}
	out=$(s_client "$SRV4:8080" -servername www.jfe.test "-tls$ver"); rc=$?
	out6=$(s_client "[$SRV6]:8080" "-tls$ver"); rc6=$?
	if [[ $rc == 0 && $rc6 == 0 && $out == *"Protocol version: $want"* && $out6 == *"Protocol version: $want"* ]]; then
		pass "proxy.02_openssl_tls${ver/_/}" "$(grep -E '^(Protocol version|Ciphersuite|Peer certificate):' <<<"$out" | tr '\n' ' ')"
	else
		fail "proxy.02_openssl_tls${ver/_/}" "openssl s_client -tls$ver: v4 rc $rc, v6 rc $rc6:
$(head -8 <<<"$out")
$(head -8 <<<"$out6")"
	fi
done
# TLS 1.1: the client must really offer it (SECLEVEL=0), and jfe must refuse
out=$(s_client "$SRV4:8080" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'); rc=$?
if [[ $rc != 0 && $out != *"Protocol version: TLSv1.1"* && $out != *"no protocols available"* ]]; then
	pass proxy.02_tls11_refused "$(grep -m1 -iE 'alert|error|wrong|unsupported' <<<"$out")"
else
	fail proxy.02_tls11_refused "openssl s_client -tls1_1 -> rc $rc:
$(head -8 <<<"$out")"
fi

# ------------------------------------------------------------------ 3. loopback-only service stays private
# jfe connects upstream to the ORIGINAL destination 10.77.0.1:9090, where nothing listens, and
# resets the client; it must never fall back to 127.0.0.1.
sanity=$(curl_in "$NS_SRV" http://127.0.0.1:9090/ 2>&1)
before=$(grep -c '^REQ' "$BED_DIR/backend-lo.log")
curl_in "$NS_CLI" -o "$BED_DIR/lo.body" "http://$SRV4:9090/" >"$BED_DIR/lo.err" 2>&1; rc=$?
after=$(grep -c '^REQ' "$BED_DIR/backend-lo.log")
if [[ $sanity != *"sees peer"* ]]; then
	fail proxy.03_loopback_only_unreachable "control failed: the 127.0.0.1:9090 service does not answer inside srv: $sanity" backend-lo.log
elif [[ ($rc == 56 || $rc == 7) && ! -s $BED_DIR/lo.body && $before == "$after" ]]; then
	# 56: reset after connect; 7: the reset came before curl's non-blocking connect completed
	pass proxy.03_loopback_only_unreachable "$(cat "$BED_DIR/lo.err")"
else
	fail proxy.03_loopback_only_unreachable "curl http://$SRV4:9090/ -> rc $rc (want 56 or 7: reset), body $(wc -c <"$BED_DIR/lo.body") bytes (want 0), loopback backend requests $before -> $after: $(cat "$BED_DIR/lo.err") $(head -c 200 "$BED_DIR/lo.body")"
fi

# ------------------------------------------------------------------ 4. server-first service
out=$(py "$NS_CLI" greeter.py client "$SRV4" 2525 --timeout 5 2>&1); rc=$?
secs=$(awk '/^BANNER/ { print $2 }' <<<"$out")
if [[ $rc == 0 && -n $secs ]] && awk -v s="$secs" 'BEGIN { exit !(s < 0.5) }'; then
	pass proxy.04_server_first_banner "banner after ${secs}s; $(tr '\n' ' ' <<<"$out")"
else
	fail proxy.04_server_first_banner "silent client, banner must arrive in < 0.5 s: rc $rc: $out" greeter.log
fi

# ------------------------------------------------------------------ 5. bulk, both directions, half-close
out=$(BED_TIMEOUT=90 py "$NS_CLI" bulk.py client "$SRV4" 5001 "$BULK_MIB" --timeout 30 2>&1); rc=$?
if [[ $rc == 0 && $out == OK* ]]; then pass "proxy.05_bulk_plain_${BULK_MIB}MiB" "$out"
else fail "proxy.05_bulk_plain_${BULK_MIB}MiB" "rc $rc: $out" bulk.log; fi
out=$(BED_TIMEOUT=90 py "$NS_CLI" bulk.py client "$SRV4" 5001 "$BULK_MIB" --tls --sni bulk.jfe.test --timeout 30 2>&1); rc=$?
if [[ $rc == 0 && $out == OK* ]]; then pass "proxy.05_bulk_tls_${BULK_MIB}MiB" "$out"
else fail "proxy.05_bulk_tls_${BULK_MIB}MiB" "rc $rc: $out" bulk.log; fi
# kTLS where the kernel has the "tls" ULP, the user-space path elsewhere: status says which ran,
# and the transfer above checked the bytes either way.
ktls=$(jfe_status --json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["traffic"]["ktls_tx"])' 2>/dev/null)
if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
	if [[ ${ktls:-0} -gt 0 ]]; then pass proxy.05_ktls_used "the kernel encrypted $ktls connection(s)"
	else fail proxy.05_ktls_used "the kernel offers the tls ULP but status counts ktls_tx=${ktls:-missing}"; fi
elif [[ $ktls == 0 ]]; then
	pass proxy.05_ktls_fallback "no tls ULP in this kernel ($(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null)): the user-space TLS path carried the transfer"
else
	fail proxy.05_ktls_fallback "no tls ULP, yet status counts ktls_tx=${ktls:-missing}"
fi

# ------------------------------------------------------------------ 7. the srv host's own outbound connections
out4=$(curl_in "$NS_SRV" "http://$CLI4:7070/" 2>&1); rc4=$?
out6=$(curl_in "$NS_SRV" "http://[$CLI6]:7070/" 2>&1); rc6=$?
if [[ $rc4 == 0 && $rc6 == 0 ]] && peer_is "$out4" "$SRV4" && peer_is "$out6" "$SRV6"; then
	pass proxy.07_host_outbound "$out4 / $out6"
else
	fail proxy.07_host_outbound "srv -> cli:7070 while jfe runs: v4 rc $rc4: $out4; v6 rc $rc6: $out6" backend-cli.log
fi

# ------------------------------------------------------------------ 8. port 22 is never intercepted
mark=$(jfe_log_mark)
out=$(curl_in "$NS_CLI" "http://$SRV4:22/" 2>&1); rc=$?
tls22=$(s_client "$SRV4:22" -servername ssh.jfe.test); rc22=$?
sleep 0.3
logged22=$(jfe_log_since "$mark" | grep -F -- "$CLI4")
# positive control: an intercepted port right after does get a log line
mark2=$(jfe_log_mark)
curl_in "$NS_CLI" -o /dev/null "http://$SRV4:8080/" 2>/dev/null
if ! wait_log_line "$mark2" "$CLI4"; then
	fail proxy.08_port22_not_intercepted "control failed: jfe -v did not log a connection to :8080, so its silence about :22 proves nothing"
elif [[ $rc == 0 ]] && peer_is "$out" "$CLI4" && [[ $rc22 != 0 && $tls22 != *"CONNECTION ESTABLISHED"* && -z $logged22 ]]; then
	pass proxy.08_port22_not_intercepted "plain GET reached the :22 backend directly; TLS ClientHello not answered by jfe ($(grep -m1 -iE 'error|wrong' <<<"$tls22"))"
else
	fail proxy.08_port22_not_intercepted "curl :22 rc $rc: $out
s_client :22 rc $rc22: $(head -3 <<<"$tls22")
jfe -v lines naming $CLI4 during the :22 checks: ${logged22:-none}" backend-22.log
fi

# ------------------------------------------------------------------ 13. client source-port reuse
# A client may reuse its source port while jfe's side of the previous connection with the same
# 4-tuple still lingers in TIME-WAIT in srv (jfe closes first). The new SYN must still go to jfe.
reuse_bad=0 reuse_tw=0 reuse_log=
for i in 1 2 3 4 5 6; do
	mark=$(jfe_log_mark)
	out=$(curl_in "$NS_CLI" -k --local-port 40404 "https://$SRV4:8080/" 2>&1); rc=$?
	if [[ $rc != 0 ]] || ! peer_is "$out" "$CLI4"; then
		reuse_bad=$((reuse_bad + 1)); reuse_log+="try $i: rc $rc: $out"$'\n'
	fi
	# before the next try, wait (bounded) for that TIME-WAIT in srv
	for ((j = 0; j < 20; j++)); do
		ip netns exec "$NS_SRV" ss -Htan state time-wait '( dport = :40404 )' | grep -q . && { reuse_tw=$((reuse_tw + 1)); break; }
		sleep 0.05
	done
done
if [[ $reuse_bad == 0 ]]; then
	pass proxy.13_client_port_reuse "6 TLS connections from 10.77.0.2:40404, jfe-side TIME-WAIT present before $reuse_tw of them"
else
	fail proxy.13_client_port_reuse "$reuse_bad of 6 TLS connections from the same client port failed (jfe-side TIME-WAIT seen $reuse_tw times); 'wrong version number' = the SYN bypassed jfe and the plaintext backend got the ClientHello:
$reuse_log"
fi

# ------------------------------------------------------------------ 12. parallel short connections
out=$(BED_TIMEOUT=90 py "$NS_CLI" conns.py "$SRV4" 8080 "$PARALLEL" --timeout 20 --expect-peer "$CLI4" 2>&1); rc=$?
if [[ $rc == 0 && $out == OK* ]]; then pass "proxy.12_parallel_$PARALLEL" "$out"
else fail "proxy.12_parallel_$PARALLEL" "rc $rc: $out" backend.log; fi

# ------------------------------------------------------------------ 14. return path without conntrack
# The replies of the services above (v4, v6, TLS, bulk, a closed port's reset) found jfe by the
# mark their sockets inherited: srv tracked no connection at all.
rules=$(ip netns exec "$NS_SRV" nft list table inet jfe 2>&1)
vals=$(rp_values) cts=$(ct_count)
if [[ $RP_BEFORE == "0 0 0" && $vals == "1 1 1" && ($cts == none || $cts == 0) && $rules == *"fib saddr type local"* &&
	$rules != *" ct "* && -f $JFE_CACHE/return-path.saved ]]; then
	pass proxy.14_return_path_socket_mark "settings $RP_BEFORE -> $vals, conntrack entries: $cts, old values recorded"
else
	fail proxy.14_return_path_socket_mark "settings before $RP_BEFORE, now $vals (want 0 0 0 -> 1 1 1); conntrack entries in srv: $cts (want none or 0); record: $(ls "$JFE_CACHE" 2>&1 | tr '\n' ' ')
$rules"
fi

# ------------------------------------------------------------------ 6. kill -9: fail-open, restart over stale state, SIGTERM cleanup
table=$(ip -n "$NS_SRV" rule show | sed -n 's/.*fwmark [^ ]* lookup \([^ ]*\).*/\1/p' | head -n1)
jfe_stop KILL 5
stale="table inet jfe $(nft_has_jfe_table && echo left || echo gone), $(bed_extra_rules | grep -c fwmark) fwmark rule(s) left"
out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1); rc=$?
if [[ $rc == 0 ]] && peer_is "$out" "$CLI4"; then pass proxy.06_kill9_fail_open "after kill -9 ($stale): $out"
else fail proxy.06_kill9_fail_open "after kill -9 ($stale) curl http://$SRV4:8080/ -> rc $rc: $out" backend.log; fi

if jfe_start; then
	out=$(curl_in "$NS_CLI" -k "https://$SRV4:8080/" 2>&1); rc=$?
	outp=$(curl_in "$NS_CLI" "http://[$SRV6]:8080/" 2>&1); rcp=$?
	n4=$(ip -n "$NS_SRV" rule show | grep -c fwmark)
	n6=$(ip -n "$NS_SRV" -6 rule show | grep -c fwmark)
	if [[ $rc == 0 && $rcp == 0 && $n4 == 1 && $n6 == 1 ]] && peer_is "$out" "$CLI4" && peer_is "$outp" "$CLI6"; then
		pass proxy.06_restart_over_stale_state "$out"
	else
		fail proxy.06_restart_over_stale_state "after restart: curl -k https v4 rc $rc: $out; http v6 rc $rcp: $outp; fwmark rules v4 $n4, v6 $n6 (want 1 each):
$(ip -n "$NS_SRV" rule show; ip -n "$NS_SRV" -6 rule show)"
	fi
	[[ -n $table ]] || table=$(ip -n "$NS_SRV" rule show | sed -n 's/.*fwmark [^ ]* lookup \([^ ]*\).*/\1/p' | head -n1)
	jfe_stop TERM 10
	left_rules=$(bed_extra_rules)
	left_routes=
	if [[ -n $table ]]; then
		left_routes=$( { ip -n "$NS_SRV" route show table "$table"; ip -n "$NS_SRV" -6 route show table "$table"; } 2>/dev/null)
	fi
	vals=$(rp_values)
	if [[ $JFE_RC == 0 ]] && ! nft_has_jfe_table && [[ -z $left_rules && -z $left_routes && -n $table &&
		$vals == "$RP_BEFORE" && ! -e $JFE_CACHE/return-path.saved ]]; then
		pass proxy.06_sigterm_cleanup "exit 0; no table inet jfe, no extra ip rules, route table $table empty, settings back to $vals (across a kill -9)"
	else
		fail proxy.06_sigterm_cleanup "after SIGTERM: exit status $JFE_RC (want 0); table inet jfe: $(nft_has_jfe_table && echo present || echo gone)
extra ip rules: ${left_rules:-none}
route table ${table:-?(no fwmark rule seen while running)}: ${left_routes:-empty}
return-path settings: $vals (want $RP_BEFORE); record: $(ls "$JFE_CACHE" 2>&1 | tr '\n' ' ')"
	fi
else
	fail proxy.06_restart_over_stale_state "jfe did not start again over the state kill -9 left ($stale)"
	fail proxy.06_sigterm_cleanup "not run: the restart failed"
fi

# ------------------------------------------------------------------ 9. --no-preserve-source
# (with --ports 1-65535: port 22 must stay excluded even when the range names it; here the :22
# backend seeing the real client 10.77.0.2 instead of 10.77.0.1 shows it was not intercepted)
if jfe_start --no-preserve-source --ports 1-65535; then
	out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1); rc=$?
	outt=$(curl_in "$NS_CLI" -k "https://$SRV4:8080/" 2>&1); rct=$?
	if [[ $rc == 0 && $rct == 0 ]] && peer_is "$out" "$SRV4" && peer_is "$outt" "$SRV4"; then
		pass proxy.09_no_preserve_source "$out"
	else
		fail proxy.09_no_preserve_source "want the backend to see $SRV4: http rc $rc: $out; https rc $rct: $outt"
	fi
	out=$(curl_in "$NS_CLI" "http://$SRV4:22/" 2>&1); rc=$?
	if [[ $rc == 0 ]] && peer_is "$out" "$CLI4"; then
		pass proxy.08_port22_excluded_from_explicit_range "--ports 1-65535: $out"
	else
		fail proxy.08_port22_excluded_from_explicit_range "jfe run --ports 1-65535 --no-preserve-source: curl http://$SRV4:22/ -> rc $rc: $out (want the backend to see $CLI4, i.e. not intercepted)" backend-22.log
	fi
	jfe_stop TERM 10 || fail proxy.09_sigterm_exit "jfe --no-preserve-source: SIGTERM -> exit status $JFE_RC (want 0)"
else
	fail proxy.09_no_preserve_source "jfe run --no-preserve-source --ports 1-65535 did not start"
	fail proxy.08_port22_excluded_from_explicit_range "not run: jfe did not start"
fi

# ------------------------------------------------------------------ 15. --return-path conntrack
if jfe_start --return-path conntrack; then
	out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1); rc=$?
	outt=$(curl_in "$NS_CLI" -k "https://[$SRV6]:8080/" 2>&1); rct=$?
	curl_in "$NS_CLI" "http://$SRV4:9090/" >/dev/null 2>&1; rcl=$?
	vals=$(rp_values) cts=$(ct_count)
	if [[ $rc == 0 && $rct == 0 && ($rcl == 56 || $rcl == 7) && $vals == "$RP_BEFORE" && $cts != none && $cts -gt 0 ]] &&
		peer_is "$out" "$CLI4" && peer_is "$outt" "$CLI6"; then
		pass proxy.15_return_path_conntrack "http v4 and https v6 see the client, the closed port resets (rc $rcl); settings untouched ($vals), $cts tracked connections"
	else
		fail proxy.15_return_path_conntrack "http v4 rc $rc: $out; https v6 rc $rct: $outt; closed port rc $rcl (want 56 or 7); settings $vals (want $RP_BEFORE); conntrack entries $cts (want > 0)"
	fi
	jfe_stop TERM 10
else
	fail proxy.15_return_path_conntrack "jfe run --return-path conntrack did not start"
fi

# ------------------------------------------------------------------ 16. read-only /proc/sys: conntrack instead
# (as under systemd's ProtectKernelTunables= without the unit's `jfe return-path set`)
ro_bin=$BED_DIR/jfe-ro-proc-sys
cat >"$ro_bin" <<EOF
#!/bin/sh
exec unshare -m sh -c 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "\$0" "\$@"' "$JFE_BIN" "\$@"
EOF
chmod +x "$ro_bin"
if JFE_BIN=$ro_bin jfe_start; then
	out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1); rc=$?
	vals=$(rp_values)
	rules=$(ip netns exec "$NS_SRV" nft list table inet jfe 2>&1)
	if [[ $rc == 0 && $vals == "$RP_BEFORE" && $rules == *"ct mark set"* ]] && peer_is "$out" "$CLI4" &&
		grep -q 'return path: .*using conntrack' "$JFE_LOG"; then
		pass proxy.16_read_only_sysctls_fall_back "$(grep -m1 'using conntrack' "$JFE_LOG" | cut -c1-160)"
	else
		fail proxy.16_read_only_sysctls_fall_back "http v4 rc $rc: $out; settings $vals (want $RP_BEFORE); conntrack rules: $([[ $rules == *"ct mark set"* ]] && echo yes || echo no); log: $(grep 'return path' "$JFE_LOG" | head -3)"
	fi
	jfe_stop TERM 10
else
	fail proxy.16_read_only_sysctls_fall_back "jfe did not start with /proc/sys read-only"
fi

# ------------------------------------------------------------------ 11. status after stop; sanitizers
out=$(jfe_status 2>&1); rc=$?
if [[ $rc == 3 ]]; then pass proxy.11_status_after_stop
else fail proxy.11_status_after_stop "jfe status after SIGTERM -> exit $rc, want 3: $out"; fi

JFE_LOG=
if reports=$(jfe_sanitizer_reports); then
	fail proxy.sanitizers_clean "sanitizer reports in jfe's logs:
$reports"
else
	pass proxy.sanitizers_clean "no ASan/LSan/UBSan report in ${#JFE_LOGS[@]} jfe log(s)"
fi

echo "# proxy: $(elapsed "$T0")s"
bed_finish
