#!/bin/bash
# tests/integration/test_crash.sh — kill -9 at random moments during issuance and renewal
# (issue #9), against real Pebble instances, on one cache directory throughout.
#
# CRASH_LOOPS (default 50) times: start jfe, ask for names through TLS handshakes from the client
# namespace (a new name every time, plus every name asked for before and not stored yet), and
# kill -9 jfe: in half of the runs at a random moment 0 to CRASH_KILL_MAX_MS (default 1000) ms
# after its listener is up (before its account exists, while orders are in flight, after), in
# the other half 0-25 ms after a store write starts (tools/write_killer.py, inotify: a
# certificate or account save in even runs, a state blob save in every fifth).
#   - The first half of the runs use Pebble "short" (certificates valid SHORT_VALIDITY s,
#     default 20): what was issued a dozen seconds earlier is due, so renewals start too.
#   - The second half use Pebble "long" (Pebble's 5 years): every short certificate is due and
#     is renewed there, under the same kills.
# After each kill (tools/store_check.py): every stored unit is complete and its key is its
# certificate's, keys 0600 and directories 0700, no unit stored before is gone or went back to
# an older certificate, the account key of each CA never changes once stored; Pebble saw no more
# orders than jfe had names to order (due for renewal + asked for), and at most one validation
# per name per run (PEBBLE_AUTHZREUSE=0: one authorization per order).
# Afterwards: every start had loaded every stored certificate; `jfe certs` loads every unit; the
# store's open removes every leftover of the interrupted writes; one run left alone completes
# what the kills interrupted; then a clean start serves every name with a verified certificate
# and orders nothing.
# Environment: JFE_BIN, BED_KEEP=1, CRASH_LOOPS, CRASH_KILL_MAX_MS, SHORT_VALIDITY,
# CRASH_TRACE=1 (one line per run on stderr).
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=crash
bed_require_root

LOOPS=${CRASH_LOOPS:-50}
KILL_MAX_MS=${CRASH_KILL_MAX_MS:-1000}
SHORT_VALIDITY=${SHORT_VALIDITY:-20}
T0=$(now)

bed_up || { echo "FAIL: crash.bed_up"; exit 1; }
PEBBLE_ENV=(PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0)
if ! pebble_certs "$BED_DIR/pebble" || ! chall_start ||
	! pebble_start short 14002 15002 "${PEBBLE_ENV[@]}" -- "\"certificateValidityPeriod\": $SHORT_VALIDITY" ||
	! pebble_start long 14000 15000 "${PEBBLE_ENV[@]}"; then
	echo "FAIL: crash.pebble_up"
	exit 1
fi
ROOT_LONG=$(pebble_root 15000) || { echo "FAIL: crash.pebble_root"; exit 1; }
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443
wait_port "$NS_SRV" "$SRV4" 443 10 || { echo "FAIL: crash.backend"; exit 1; }

JFE_CACHE=$BED_DIR/cache
STATE=$BED_DIR/store-state.json
# Budgets high enough for 50 runs' worth of names and retries, and no cap on the orders in
# flight (a new name asked for while 25 renewals run would be refused for 30 s): admission is
# not under test here.
JFE_ARGS=(--acme-ca-bundle "$PEBBLE_DIR/ca.pem" --public-ip "$SRV4" --dns-server "$CHALL_DNS"
	--names-per-hour 10000 --names-per-day 10000 --names-per-domain-week 10000
	--names-per-client-hour 10000 --max-orders 1000 --issue-timeout 10)

orders_in() { grep -c 'Added order ' "$1" 2>/dev/null; }
# the Pebble log lines after line MARK of FILE
since() { tail -n +"$(( $2 + 1 ))" "$1"; }
# store_check: tools/store_check.py on the cache against $STATE; its line in CHECK
store_check() { CHECK=$("$PY" "$BED_TOOLS/store_check.py" "$JFE_CACHE" "$STATE" "${HORIZON_S:-0}" 2>&1); }
# names stored now, one per line
stored_names() { sed -n 's/.* names=//p' <<<"$CHECK" | tr ',' '\n' | grep .; }
# trigger NAME: one TLS handshake for NAME from cli in the background (jfe may die under it)
trigger() {
	spawn "$NS_CLI" /dev/null timeout -k 1 12 openssl s_client -connect "$SRV4:443" \
		-servername "$1" </dev/null
}

# ------------------------------------------------------------------ the loop
HORIZON_S=$((KILL_MAX_MS / 1000 + 5))   # longer than a run lasts
declare -A ASKED=()
problems=() storm=() kills_inflight=0 kills_quiet=0 orders_total=0 bound_total=0
renew_runs=0 checked=0 leftovers_max=0 leftovers_runs=0 started=0 write_kills=0
stored='' due=0
tl=$(now)
for ((i = 1; i <= LOOPS; i++)); do
	if ((i <= LOOPS / 2)); then ca=short; else ca=long; fi
	ASKED[n$i.crash.test]=1
	want=()
	for n in "${!ASKED[@]}"; do grep -qxF "$n" <<<"$stored" || want+=("$n"); done
	ms=${PEBBLE_LOG[short]} ml=${PEBBLE_LOG[long]}
	mark_s=$(wc -l <"$ms") mark_l=$(wc -l <"$ml")
	if ! jfe_start --acme-directory "${PEBBLE_URL[$ca]}" "${JFE_ARGS[@]}"; then
		problems+=("run $i: jfe did not start on the cache the last kill left")
		break
	fi
	started=$((started + 1))
	for n in "${want[@]}"; do trigger "$n"; done
	# Half the kills are aimed at a store write: tools/write_killer.py fires 0-25 ms after a
	# certificate or account save starts (every even run) or a state blob save (every fifth);
	# the others come at a random moment.
	how="after $((RANDOM % (KILL_MAX_MS + 1))) ms" target=
	((i % 2 == 0)) && target=units
	((i % 10 == 5)) && target=state
	if [[ -n $target ]]; then
		kw=$("$PY" "$BED_TOOLS/write_killer.py" "$JFE_PID" "$JFE_CACHE" "$target" 25 \
			"$(awk -v m="$KILL_MAX_MS" 'BEGIN { printf "%.3f", m / 1000 + 2 }')" 2>&1)
		if [[ $kw == KILLED* ]]; then how="in a write: ${kw#KILLED }"; write_kills=$((write_kills + 1))
		else how="after $KILL_MAX_MS ms + 2 s (no $target write: $kw)"; fi
	else
		sleep "$(awk -v m="${how//[^0-9]/}" 'BEGIN { printf "%.3f", m / 1000 }')"
	fi
	{ jfe_stop KILL 5; } 2>/dev/null
	sleep 0.3       # what Pebble was answering when jfe died is logged
	run=$(since "$ms" "$mark_s"; since "$ml" "$mark_l")
	orders=$(grep -c 'Added order ' <<<"$run")
	issued=$(grep -c 'Issued certificate serial' <<<"$run")
	grep -q 'agent: [^ ]*: renewing' "$JFE_LOG" && renew_runs=$((renew_runs + 1))
	# at most one validation (one order) per name in this run
	dup=$(grep -o 'Value:"[^"]*"' <<<"$run" | sort | uniq -c | awk '$1 > 1 { print $2 "x" $1 }' | tr '\n' ' ')
	# jfe may order what is due for renewal during the run and what was asked for, once each
	bound=$((due + ${#want[@]}))
	orders_total=$((orders_total + orders)) bound_total=$((bound_total + bound))
	if [[ -n $dup ]] || ((orders > bound)); then
		storm+=("run $i ($ca, killed $how): $orders orders for $bound names ($due due + ${#want[@]} asked); repeated: ${dup:-none}")
	fi
	store_check
	checked=$((checked + 1))
	if [[ $CHECK != OK* ]]; then
		problems+=("run $i ($ca, killed $how): $CHECK")
		break
	fi
	stored=$(stored_names)
	due=$(sed -n 's/.* due=\([0-9]*\).*/\1/p' <<<"$CHECK")
	left=$(sed -n 's/.* leftovers=\([0-9]*\).*/\1/p' <<<"$CHECK")
	((left > leftovers_max)) && leftovers_max=$left
	((left > 0)) && leftovers_runs=$((leftovers_runs + 1))
	# work in flight at the kill: Pebble created or issued more than the run stored
	changed=$(sed -n 's/.* changed=\([0-9]*\).*/\1/p' <<<"$CHECK")
	if ((orders > changed || issued > changed)); then kills_inflight=$((kills_inflight + 1))
	else kills_quiet=$((kills_quiet + 1)); fi
	[[ -n ${CRASH_TRACE:-} ]] && bed_log "run $i $ca killed $how: orders $orders issued $issued bound $bound changed $changed left $left"
done
LOOP_S=$(elapsed "$tl")
nstored=$(grep -c . <<<"$stored")

if ((${#problems[@]} == 0 && checked == LOOPS)); then
	pass crash.store_consistent_after_every_kill "$LOOPS kills in ${LOOP_S}s ($write_kills inside a store write); after each: every unit complete, keys match, 0600 keys, nothing lost or older, account keys unchanged; $nstored units at the end; interrupted writes left leftovers after $leftovers_runs kills (up to $leftovers_max at once)"
else
	fail crash.store_consistent_after_every_kill "$checked of $LOOPS runs checked: ${problems[*]}"
fi
if ((${#storm[@]} == 0 && checked == LOOPS)); then
	pass crash.no_order_storm "$orders_total orders in $LOOPS runs (bound $bound_total: names due + asked for, run by run); never two validations of one name in a run; $kills_inflight kills with an order or a store write in flight, $kills_quiet without; renewals started in $renew_runs runs"
else
	fail crash.no_order_storm "${storm[*]:-loop incomplete}" pebble-short.log pebble-long.log
fi
if ((renew_runs >= 3 && kills_inflight >= LOOPS / 5 && write_kills >= LOOPS / 5)); then
	pass crash.kills_hit_the_window "$kills_inflight of $LOOPS kills with work in flight, $write_kills inside a store write; $renew_runs runs renewed"
else
	fail crash.kills_hit_the_window "only $kills_inflight kills with work in flight, $write_kills in a store write, $renew_runs runs renewing: the kills missed issuance, renewal or the writes"
fi

# every start loaded every stored certificate, and no store error was logged
partial=$(cat "${JFE_LOGS[@]}" | grep -oE 'agent: [0-9]+ of [0-9]+ stored certificates loaded' |
	awk '$2 != $4' | sort | uniq -c)
errs=$(cat "${JFE_LOGS[@]}" | grep -E ' error: |certificate unusable|incomplete|not saved' | head -5)
cleaned=$(cat "${JFE_LOGS[@]}" | grep -cE 'store .*: remov(ing|ed) ')
if [[ -z $partial && -z $errs ]]; then
	pass crash.every_start_loads_all "$started starts, each loaded every stored certificate; no error logged; $cleaned leftovers of interrupted writes removed at starts"
else
	fail crash.every_start_loads_all "partial loads: ${partial:-none}; errors: ${errs:-none}"
fi

# ------------------------------------------------------------------ the store loads and cleans up
certs_out=$(in_srv "$JFE_BIN" certs -c "$JFE_CACHE" 2>"$BED_DIR/certs.err")
rc=$?
listed=$(tail -n +2 <<<"$certs_out" | grep -c 'Pebble Intermediate CA')
# The last kill may have hit a store write: opening the store then removes what that write
# left (under the unit's lock, reported at info, as at a start). Anything else is a problem.
swept=$(grep -cE ' info: store .*: remov(ing|ed) ' "$BED_DIR/certs.err")
other=$(grep -vE ' info: store .*: remov(ing|ed) ' "$BED_DIR/certs.err" | head -c 400)
if [[ $rc == 0 && -z $other && $listed == "$nstored" ]]; then
	pass crash.jfe_certs_loads "jfe certs: $listed certificates, each with its Pebble issuer; $swept leftovers of the last kill removed; nothing else on stderr"
else
	fail crash.jfe_certs_loads "rc $rc, $listed of $nstored listed with an issuer; stderr: $other"
fi
rm -f "$STATE"   # verify every unit again from scratch, not just the ones that changed
store_check
if [[ $CHECK == OK*" leftovers=0 "* ]]; then
	pass crash.leftovers_removed_on_open "${CHECK%% names=*}"
else
	fail crash.leftovers_removed_on_open "$CHECK"
fi

# ------------------------------------------------------------------ one run left alone, then a clean start
# settle: every name asked for, renewals of what is due; wait (bounded) until every name is held
# with a certificate not due soon and no order is in flight
all=("${!ASKED[@]}")
if jfe_start --acme-directory "${PEBBLE_URL[long]}" "${JFE_ARGS[@]}"; then
	settled=0 st=
	end=$((SECONDS + 90))
	while ((SECONDS < end)); do
		# like clients coming back: a handshake for every name not held yet, every 2 s
		while read -r n; do trigger "$n"; done < <(sed -n 's/^missing //p' <<<"$st")
		((${#st} == 0)) && for n in "${all[@]}"; do grep -qxF "$n" <<<"$stored" || trigger "$n"; done
		sleep 2
		st=$(jfe_status --json 2>/dev/null | "$PY" -c '
import datetime, json, sys
j = json.load(sys.stdin)
now = datetime.datetime.now(datetime.timezone.utc)
ok = {c["name"] for c in j["certificates"]
      if datetime.datetime.fromisoformat(c["renew_at"].replace("Z", "+00:00")) > now + datetime.timedelta(days=1)}
missing = [n for n in sys.argv[1:] if n not in ok]
if not missing and not j["orders"]:
    print("settled")
else:
    print("%d names not held yet, %d orders in flight" % (len(missing), len(j["orders"])))
    print("\n".join("missing " + n for n in missing))
' "${all[@]}" 2>&1)
		[[ $st == settled ]] && { settled=1; break; }
	done
	jfe_stop TERM 10
	settle_orders=$(( $(orders_in "${PEBBLE_LOG[long]}") + $(orders_in "${PEBBLE_LOG[short]}") - orders_total ))
	if [[ $settled == 1 && $JFE_RC == 0 ]]; then
		pass crash.settles "the run left alone held all ${#all[@]} names with certificates valid for years after $settle_orders orders (renewals of short certificates and names the kills interrupted); SIGTERM exit 0"
	else
		fail crash.settles "gave up waiting after 90 s: $(head -n1 <<<"$st") ($(sed -n 's/^missing //p' <<<"$st" | head -5 | tr '\n' ' ')); exit status $JFE_RC"
	fi
else
	fail crash.settles "jfe did not start"
fi

before_s=$(orders_in "${PEBBLE_LOG[short]}") before_l=$(orders_in "${PEBBLE_LOG[long]}")
if jfe_start --acme-directory "${PEBBLE_URL[long]}" "${JFE_ARGS[@]}"; then
	bad=() ok=0
	for n in "${all[@]}"; do
		info=$(served_cert "$n" 443 "$ROOT_LONG")
		if [[ $info == *verify=0* && $info == *"Pebble Intermediate CA"* ]]; then ok=$((ok + 1))
		else bad+=("$n: ${info:-no certificate}"); fi
	done
	sleep 2         # past the first renewal scan (1 s after the start)
	loaded=$(grep -oE 'agent: [0-9]+ of [0-9]+ stored certificates loaded' "$JFE_LOG")
	new=$(( $(orders_in "${PEBBLE_LOG[short]}") - before_s + $(orders_in "${PEBBLE_LOG[long]}") - before_l ))
	jfe_stop TERM 10
	if ((ok == ${#all[@]})) && [[ $new == 0 && $loaded == "agent: ${#all[@]} of ${#all[@]} stored"* &&
		$JFE_RC == 0 ]] && ! grep -Eq 'renewing|certificate issued' "$JFE_LOG"; then
		pass crash.clean_start_no_new_order "'$loaded'; $ok names served, verified against Pebble's root; 0 orders"
	else
		fail crash.clean_start_no_new_order "'$loaded'; $ok of ${#all[@]} verified; $new new orders; exit $JFE_RC; ${bad[*]:0:3}"
	fi
else
	fail crash.clean_start_no_new_order "jfe did not start"
fi
store_check
if [[ $CHECK == OK*" leftovers=0 "* ]]; then pass crash.store_consistent_at_the_end "${CHECK%% names=*}"
else fail crash.store_consistent_at_the_end "$CHECK"; fi

if reports=$(jfe_sanitizer_reports); then fail crash.sanitizers_clean "$reports"; else pass crash.sanitizers_clean "$started + 2 runs"; fi
echo "# crash: $(elapsed "$T0")s (loop ${LOOP_S}s, $LOOPS kills)"
bed_finish
