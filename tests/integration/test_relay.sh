#!/bin/bash
# tests/integration/test_relay.sh — pass-through relaying of long-lived connections, beyond
# test_proxy's bulk transfer: each connection first exchanges 20 small messages (a relay sees a
# long-lived session), then
#   - the server half-closes first, the client's data still flows after it (and the reverse);
#   - a client's reset reaches the server as a reset, and a server's reset the client;
#   - --idle-timeout closes a silent connection but not one that keeps talking;
#   - a client that stops reading holds up the server: what is buffered on the way is bounded;
#   - jfe's per-connection byte counts (-v log) match what crossed.
# Backend in srv: tests/tools/relay_check.py on 10.77.0.1:5002 and [fd77::1]:5002.
# Environment: JFE_BIN, RELAY_MIB (default 16), JFE_RELAY_ARGS (extra `jfe run` options),
# BED_KEEP=1.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
BED_NAME=relay
bed_require_root

MIB=${RELAY_MIB:-16}
IDLE=3
T0=$(now)

bed_up || { echo "FAIL: relay.bed_up"; exit 1; }
spawn "$NS_SRV" check.log "$PY" -u "$BED_TOOLS/relay_check.py" server "$SRV4" 5002
spawn "$NS_SRV" check6.log "$PY" -u "$BED_TOOLS/relay_check.py" server "$SRV6" 5002
if ! wait_port "$NS_SRV" "$SRV4" 5002 10 || ! wait_port "$NS_SRV" "$SRV6" 5002 10; then
	fail relay.backend_up "relay_check.py did not start" check.log check6.log
	bed_finish
fi
# shellcheck disable=SC2086
if ! jfe_start --idle-timeout "$IDLE" ${JFE_RELAY_ARGS:-}; then
	fail relay.start "jfe did not start"
	bed_finish
fi

# check HOST MODE SEED [ARGS…]: the client's one line
check() { BED_TIMEOUT=90 py "$NS_CLI" relay_check.py client "$1" 5002 "$2" --seed "$3" "${@:4}" 2>&1; }
# server_says LOG LINE: the backend logged LINE (bounded wait: it logs after its last read)
server_says() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -qx -- "$2" "$BED_DIR/$1" && return 0
		sleep 0.1
	done
	return 1
}
# counts_match MARK CLIENT-LINE: jfe's -v line for the connection has the client's byte counts
counts_match() {
	local up down line i
	up=$(sed -n 's/.*bytes_up=\([0-9]*\).*/\1/p' <<<"$2")
	down=$(sed -n 's/.*bytes_down=\([0-9]*\).*/\1/p' <<<"$2")
	for ((i = 0; i < 30; i++)); do
		line=$(jfe_log_since "$1" | grep -F ':5002 kind=plain' | tail -n1)
		[[ -n $line ]] && break
		sleep 0.1
	done
	[[ -n $up && $line == *" up=$up down=$down "* ]] && return 0
	echo "client counted up=$up down=$down; jfe logged: ${line:-nothing}"
	return 1
}

# ------------------------------------------------------------------ half-close, each side first
seed=10
for host in "$SRV4" "$SRV6"; do
	v=4 log=check.log
	[[ $host == *:* ]] && v=6 log=check6.log
	for mode in srvfirst clifirst; do
		seed=$((seed + 1))
		mark=$(jfe_log_mark)
		out=$(check "$host" "$mode" "$seed" --mib "$MIB")
		if [[ $out != OK* ]]; then
			fail "relay.${mode}_v$v" "$out" "$log"
		elif ! server_says "$log" "RX $seed OK $((MIB << 20)) want $((MIB << 20))"; then
			fail "relay.${mode}_v$v" "client: $out; the server did not receive its $MIB MiB intact: $(grep -E "^(RX|ERROR|EOF|RESET) $seed( |$)" "$BED_DIR/$log")" "$log"
		elif ! why=$(counts_match "$mark" "$out"); then
			fail "relay.${mode}_v$v" "bytes intact both ways, but jfe's counters differ: $why"
		else
			pass "relay.${mode}_v$v" "$out"
		fi
	done
done

# ------------------------------------------------------------------ resets
seed=$((seed + 1))
out=$(check "$SRV4" clirst "$seed")
if [[ $out == OK* ]] && server_says check.log "RESET $seed"; then
	pass relay.client_reset_reaches_server "$out; server: RESET"
else
	fail relay.client_reset_reaches_server "client: $out; server: $(grep -E "^(RX|ERROR|EOF|RESET) $seed( |$)" "$BED_DIR/check.log" || echo nothing)" check.log
fi
seed=$((seed + 1))
out=$(check "$SRV4" srvrst "$seed")
if [[ $out == OK* ]]; then pass relay.server_reset_reaches_client "$out"
else fail relay.server_reset_reaches_client "$out" check.log; fi

# ------------------------------------------------------------------ idle timeout
# --idle-timeout 3: the silent connection is closed (between 3 and 6 s: the timer is lazy),
# the one that talks every 0.5 s for 8 s is not.
mark=$(jfe_log_mark)
check "$SRV4" idle 90 --hold 10 >"$BED_DIR/idle.out" 2>&1 &
idle_pid=$!
check "$SRV4" active 91 --hold 8 >"$BED_DIR/active.out" 2>&1 &
active_pid=$!
wait "$idle_pid" "$active_pid"
idle_out=$(cat "$BED_DIR/idle.out") active_out=$(cat "$BED_DIR/active.out")
secs=$(awk '/^CLOSED/ { print $2 }' <<<"$idle_out")
if [[ $idle_out == CLOSED* ]] && awk -v s="$secs" 'BEGIN { exit !(s < 9) }' &&
	jfe_log_since "$mark" | grep -q 'end=idle-timeout'; then
	pass relay.idle_connection_closed "$idle_out (--idle-timeout $IDLE)"
else
	fail relay.idle_connection_closed "silent client: $idle_out; jfe: $(jfe_log_since "$mark" | grep -F ':5002' | tail -n3)"
fi
if [[ $active_out == OK* ]]; then pass relay.active_connection_kept "$active_out"
else fail relay.active_connection_kept "$active_out"; fi

# ------------------------------------------------------------------ bounded buffering
seed=$((seed + 1))
out=$(check "$SRV4" slowread "$seed" --mib 128)
sent=$(sed -n "s/^SENT $seed \([0-9]*\)$/\1/p" "$BED_DIR/check.log")
if [[ $out == OK* && -n $sent ]] && ((sent < 40 << 20)); then
	pass relay.slow_reader_bounded "$out; the server had sent $((sent >> 20)) MiB of 128 when the client had read nothing for 2.5 s"
else
	fail relay.slow_reader_bounded "client: $out; server had sent ${sent:-?} bytes of 128 MiB after 2.5 s (want < 40 MiB: the relay must not buffer without bound)" check.log
fi

jfe_stop TERM 10
if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then
	fail relay.sanitizers_clean "$(jfe_sanitizer_reports)"
else
	pass relay.sanitizers_clean
fi
echo "# relay: $(elapsed "$T0")s"
bed_finish
