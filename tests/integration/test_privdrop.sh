#!/bin/bash
# shellcheck disable=SC2015,SC2317,SC2119  # pass/fail always succeed; the cleanup runs from a trap
# tests/integration/test_privdrop.sh — jfe run --user (issue 8): jfe run first as root leaves a
# store with a certificate in it; run again with --user and a temporary system user, it hands
# that store over, and then every thread is the user with CAP_NET_ADMIN alone and no new
# privileges; the stored certificate is served, a new name is issued (Pebble) and its key is
# the user's, 0600; a plain connection passes through with the client's address (IP_TRANSPARENT
# as the user); the control socket is 0660 root:<the user's group>, usable by that group only;
# the log carries journal priorities when JOURNAL_STREAM names stderr; SIGTERM still removes
# the nftables table, the policy rule and the route; `jfe certs` by root reads the user's store
# as its owner. An unknown user or root as --user stops jfe before it installs anything.
# The user (jfet<bed id>) and its group are removed on every exit path.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=privdrop
bed_require_root

U=jfet$BED_ID
USER_MADE=0
privdrop_cleanup() {
	bed_cleanup
	if [[ $USER_MADE == 1 ]]; then
		userdel "$U" 2>/dev/null
		getent group "$U" >/dev/null && groupdel "$U" 2>/dev/null
	fi
}
bed_up || { echo "FAIL: privdrop.bed_up"; exit 1; }
trap privdrop_cleanup EXIT
if ! useradd --system --user-group --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin "$U"; then
	echo "FAIL: privdrop.useradd"
	exit 1
fi
USER_MADE=1
UID_U=$(id -u "$U") GID_U=$(id -g "$U")
# the user reaches its store, the socket and the CA bundle through $BED_DIR, and nothing else
chmod 0711 "$BED_DIR"

if ! pebble_certs || ! chall_start || ! pebble_start main 14000 15000 PEBBLE_VA_NOSLEEP=1; then
	echo "FAIL: privdrop.pebble_up"
	exit 1
fi
chmod 0755 "$PEBBLE_DIR" && chmod 0644 "$PEBBLE_DIR/ca.pem"
ROOT=$(pebble_root 15000)
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443 "$SRV4" 8080
wait_port "$NS_SRV" "$SRV4" 443 10 && wait_port "$NS_SRV" "$SRV4" 8080 10 ||
	{ echo "FAIL: privdrop.backends"; exit 1; }
ACME=(--acme-directory "https://$ACME4:14000/dir" --acme-ca-bundle "$PEBBLE_DIR/ca.pem"
	--public-ip "$SRV4" --dns-server "$CHALL_DNS" --workers 2)

# An unknown user, or root: refused before anything is installed.
for bad in "no-such-user-$BED_ID" root; do
	out=$(timeout 20 ip netns exec "$NS_SRV" "$JFE_BIN" run -c "$BED_DIR/never" --control-socket \
		"$BED_DIR/never.sock" --imds-endpoint http://127.0.0.1:9 "${ACME[@]}" --user "$bad" 2>&1)
	rc=$?
	if [[ $rc == 1 && $out == *"--user $bad"* ]] && ! nft_has_jfe_table && [[ ! -e $BED_DIR/never ]] &&
		[[ -z $(bed_extra_rules) ]]; then
		pass "privdrop.refused_user.${bad%%-*}" "exit 1: $(grep -m1 -- '--user' <<<"$out")"
	else
		fail "privdrop.refused_user.${bad%%-*}" "rc=$rc $out"
	fi
done

# 1. As root (no --user): a certificate for www.pd.test, saved in a store that is root's.
if ! jfe_start "${ACME[@]}"; then
	echo "FAIL: privdrop.jfe_start_root"
	bed_finish
fi
out=$(CURL_MAX=30 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "www.pd.test:443:$SRV4" https://www.pd.test/ 2>&1)
[[ $out == *"sees peer ('$CLI4'"* ]] && pass privdrop.root_issued "$out" || fail privdrop.root_issued "$out"
jfe_stop || fail privdrop.root_stop "rc=$JFE_RC"
n_root=$(find "$JFE_CACHE" -uid 0 | wc -l)
key=$(find "$JFE_CACHE/certs" -name key.pem | head -n 1)
[[ $n_root -ge 5 && -n $key ]] && pass privdrop.root_store "$n_root entries owned by root, key $key" ||
	fail privdrop.root_store "$(find "$JFE_CACHE" -ls 2>&1 | head -20)"

# 2. With --user, and stderr named as the journal's stream.
log_next=$BED_DIR/jfe.$((JFE_N + 1)).log
: >"$log_next"
export JOURNAL_STREAM
JOURNAL_STREAM=$(stat -c '%d:%i' "$log_next")
issued_before=$(pebble_issued main)
if ! jfe_start "${ACME[@]}" --user "$U"; then
	unset JOURNAL_STREAM
	fail privdrop.jfe_start_user "did not come up"
	bed_finish
fi
unset JOURNAL_STREAM
# set-up is done when the rules are in: READY follows at once; give it that moment
for ((i = 0; i < 100; i++)); do grep -q 'running:' "$JFE_LOG" && break; sleep 0.05; done

# every thread: uid and gid the user's for good, CAP_NET_ADMIN (bit 12) alone, no new privileges
want="Uid: $UID_U $UID_U $UID_U $UID_U;Gid: $GID_U $GID_U $GID_U $GID_U;CapInh: 0000000000000000;CapPrm: 0000000000001000;CapEff: 0000000000001000;CapBnd: 0000000000001000;CapAmb: 0000000000000000;NoNewPrivs: 1;"
bad=() n=0
for s in /proc/"$JFE_PID"/task/*/status; do
	got=$(awk '/^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):/ { $1 = $1; printf "%s;", $0 }' "$s" 2>/dev/null)
	[[ -z $got ]] && continue   # a thread that ended meanwhile
	n=$((n + 1))
	[[ $got == "$want" ]] || bad+=("${s#/proc/}: $got")
done
# main, agent and 2 workers at least
if ((n >= 4 && ${#bad[@]} == 0)); then
	pass privdrop.threads_dropped "$n threads: uid/gid $UID_U/$GID_U ($U), CapEff=CapPrm=CapBnd=0x1000 (CAP_NET_ADMIN), CapInh=CapAmb=0, NoNewPrivs 1"
else
	fail privdrop.threads_dropped "$n threads; want $want; $(printf '%s\n' "${bad[@]}")"
fi
# the agent thread (issuance) runs at nice 10 so the workers never wait for it; the others at 0
nices=$(for t in /proc/"$JFE_PID"/task/*/stat; do sed 's/^.*) //' "$t" 2>/dev/null | awk '{ print $17 }'; done | sort -n | uniq -c | awk '{ printf "%s×nice %s ", $1, $2 }')
if [[ $nices =~ ^[0-9]+×nice\ 0\ 1×nice\ 10\ $ ]]; then pass privdrop.agent_thread_nice "$nices"
else fail privdrop.agent_thread_nice "thread nice values: $nices (want one thread at 10, the rest at 0)"; fi
# the return path's kernel settings are made with CAP_NET_ADMIN alone, after the drop
grep -q "running: .*source preserved (return path: socket mark)" "$JFE_LOG" &&
	pass privdrop.return_path_after_drop "$(grep -m3 'return path' "$JFE_LOG" | tr '\n' ' ' | cut -c1-200)" ||
	fail privdrop.return_path_after_drop "$(grep -E 'return path|running:' "$JFE_LOG" | head -5)"
grep -q "handed over to $U (it belonged to root)" "$JFE_LOG" &&
	grep -q "running: .*user $U (CAP_NET_ADMIN only)" "$JFE_LOG" &&
	pass privdrop.log_says "$(grep -m1 'running:' "$JFE_LOG")" || fail privdrop.log_says

# journal priorities: every line "<N>level: …", N matching the level
notj=$(grep -Ev '^(<3>error|<4>warning|<6>info|<7>debug): ' "$JFE_LOG" | grep -Ev "$BED_SAN_RE" | head -n 3)
if [[ -z $notj ]] && grep -q '^<6>info: jfe .* running: ' "$JFE_LOG"; then
	pass privdrop.journal_priorities "$(head -n 1 "$JFE_LOG")"
else
	fail privdrop.journal_priorities "not journal lines: $notj"
fi

# the stored certificate (the root run's), served by the user; the service sees the client
out=$(CURL_MAX=15 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "www.pd.test:443:$SRV4" https://www.pd.test/ 2>&1)
[[ $out == *"sees peer ('$CLI4'"* && $(pebble_issued main) == "$issued_before" ]] &&
	pass privdrop.stored_cert_served "$out" || fail privdrop.stored_cert_served "$out (issued: $(pebble_issued main) was $issued_before)"
# pass-through: plain HTTP to another port, from the client's own address (IP_TRANSPARENT)
out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1)
[[ $out == *"sees peer ('$CLI4'"* ]] && pass privdrop.passthrough_client_address "$out" ||
	fail privdrop.passthrough_client_address "$out"
# a new name: issued by the agent thread as the user; its key is the user's, 0600
out=$(CURL_MAX=30 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "new.pd.test:443:$SRV4" https://new.pd.test/ 2>&1)
nkey=$JFE_CACHE/certs/new.pd.test/current/key.pem
st=$(stat -c '%a %U:%G' "$nkey" 2>&1)
if [[ $out == *"sees peer ('$CLI4'"* && $st == "600 $U:$U" ]]; then
	pass privdrop.issued_as_user "new.pd.test: key $st"
else
	fail privdrop.issued_as_user "$out; key: $st"
fi

# control socket: root and the user's group, nobody else
st=$(stat -c '%a %U:%G %F' "$JFE_SOCK" 2>&1)
[[ $st == "660 root:$U socket" ]] && pass privdrop.control_socket "$st" || fail privdrop.control_socket "$st"
out=$(jfe_status --json 2>&1)
"$PY" -c 'import json,sys; i = json.loads(sys.argv[1])["interception"]
assert i["rules_installed"] and i["run_as"] == "user %s (CAP_NET_ADMIN only)" % sys.argv[2], i' "$out" "$U" 2>/dev/null &&
	pass privdrop.status_root "run_as: user $U (CAP_NET_ADMIN only)" || fail privdrop.status_root "$out"
out=$(in_srv setpriv --reuid=nobody --regid=nogroup --groups="$GID_U" "$JFE_BIN" status --control-socket "$JFE_SOCK" 2>&1)
[[ $? == 0 && $out == *"runs as   user $U (CAP_NET_ADMIN only)"* ]] && pass privdrop.status_group "a member of $U may ask" ||
	fail privdrop.status_group "$out"
out=$(in_srv setpriv --reuid=nobody --regid=nogroup --clear-groups "$JFE_BIN" status --control-socket "$JFE_SOCK" 2>&1)
rc=$?
[[ $rc != 0 && $out == *"ermission denied"* ]] && pass privdrop.status_others_refused "$out" ||
	fail privdrop.status_others_refused "rc=$rc $out"

# SIGHUP as the user: the options are parsed again, nothing breaks
kill -HUP "$JFE_PID"
for ((i = 0; i < 100; i++)); do grep -q 'SIGHUP: reloading' "$JFE_LOG" && break; sleep 0.05; done
sleep 0.3
out=$(CURL_MAX=10 curl_in "$NS_CLI" --cacert "$ROOT" --resolve "www.pd.test:443:$SRV4" https://www.pd.test/ 2>&1)
[[ $out == *"sees peer"* ]] && ! grep -q 'invalid' "$JFE_LOG" && pass privdrop.sighup "still serving after the reload" ||
	fail privdrop.sighup "$out"

# SIGTERM: the table, the policy rules and the route go, with CAP_NET_ADMIN only
if jfe_stop; then
	rules=$(bed_extra_rules) routes=$(ip -n "$NS_SRV" route show table 6776 2>&1; ip -n "$NS_SRV" -6 route show table 6776 2>&1)
	if ! nft_has_jfe_table && [[ -z $rules && -z $routes ]] && grep -q 'stopped; interception removed' "$JFE_LOG"; then
		pass privdrop.sigterm_cleanup "exit 0; table inet jfe, policy rules and table 6776 routes removed"
	else
		fail privdrop.sigterm_cleanup "table: $(nft_has_jfe_table && echo present); rules: $rules; routes: $routes"
	fi
else
	fail privdrop.sigterm_cleanup "rc=$JFE_RC"
fi

# the whole store is the user's; keys 0600
notu=$(find "$JFE_CACHE" ! -uid "$UID_U" -printf '%p ' 2>&1)
keys=$(find "$JFE_CACHE" -name key.pem ! -perm 0600 -printf '%p %m ' 2>&1)
nkeys=$(find "$JFE_CACHE" -name key.pem | wc -l)
[[ -z $notu && -z $keys && $nkeys -ge 3 ]] && pass privdrop.store_owned "every entry $U's; $nkeys keys, all 0600" ||
	fail privdrop.store_owned "not $U's: $notu; keys not 0600: $keys"

# root's `jfe certs` reads the user's store as its owner, and leaves it the user's
out=$(in_srv "$JFE_BIN" certs -c "$JFE_CACHE" 2>&1)
notu=$(find "$JFE_CACHE" ! -uid "$UID_U" -printf '%p ' 2>&1)
[[ $out == *www.pd.test*Pebble* && $out == *new.pd.test* && -z $notu ]] &&
	pass privdrop.certs_as_owner "$(wc -l <<<"$out") lines" || fail privdrop.certs_as_owner "$out; not $U's: $notu"

if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail privdrop.sanitizers_clean "$(jfe_sanitizer_reports)"; else pass privdrop.sanitizers_clean; fi
bed_finish
