#!/bin/bash
# tests/integration/test_robustness.sh — hostile clients, exposure, and TLS quality judged by an
# outside tool:
#   - nothing that listens on the host's loopback is reachable through jfe (a scan of every such
#     port from the client);
#   - the control socket refuses other users; the store's private keys are 0600;
#   - silent clients (2000 connect and send nothing) and a slowloris (a ClientHello dribbled one
#     byte at a time) are bounded by timeouts while other clients are served at once;
#   - running out of descriptors (a low RLIMIT_NOFILE) pauses accepting and recovers, without
#     spinning;
#   - testssl.sh finds no vulnerability and no protocol below TLS 1.2.
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
BED_NAME=robust
bed_require_root

bed_up || { echo "FAIL: robust.bed_up"; exit 1; }
spawn "$NS_SRV" backend.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 443 "$SRV4" 8080
for p in 9001 9002 9003; do
	spawn "$NS_SRV" "lo$p.log" "$PY" -u "$BED_TOOLS/backend.py" 127.0.0.1 "$p"
done
spawn "$NS_SRV" lo6.log "$PY" -u "$BED_TOOLS/backend.py" ::1 9004
spawn "$NS_SRV" sink.log "$PY" -u "$BED_TOOLS/sink.py" "$SRV4" 8081
wait_port "$NS_SRV" "$SRV4" 8080 10 && wait_port "$NS_SRV" 127.0.0.1 9003 10 ||
	{ echo "FAIL: robust.backends"; exit 1; }

jfe_start --sniff-timeout 2000 --handshake-timeout 3000 || { echo "FAIL: robust.jfe_start"; bed_finish; }

# ------------------------------------------------------------------ exposure
ports=$(ip netns exec "$NS_SRV" ss -Htln | awk '{print $4}' | grep -E '^(127\.|\[::1\]|\[fe80)' |
	sed 's/.*://' | sort -un)
reached=()
n=0
for p in $ports; do
	[[ $p == 22 ]] && continue
	n=$((n + 1))
	out=$(in_cli curl -q -s -m 3 "http://$SRV4:$p/" 2>/dev/null)
	[[ -n $out ]] && reached+=("$p")
done
if [[ ${#reached[@]} == 0 && $n -ge 4 ]]; then
	pass robust.loopback_services_unreachable "$n loopback ports scanned through $SRV4, none answered"
else
	fail robust.loopback_services_unreachable "reached: ${reached[*]} (of $n)"
fi

# ------------------------------------------------------------------ control socket and keys
if id nobody >/dev/null 2>&1; then
	out=$(ip netns exec "$NS_SRV" setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$JFE_BIN" status --control-socket "$JFE_SOCK" 2>&1); rc=$?
	if [[ $rc != 0 && $out == *"ermission denied"* ]]; then
		pass robust.control_socket_refuses_others "rc=$rc"
	else
		fail robust.control_socket_refuses_others "rc=$rc out=$out"
	fi
fi
mode=$(stat -c %a "$JFE_SOCK")
[[ $mode == 660 ]] && pass robust.control_socket_mode || fail robust.control_socket_mode "$mode"

# ------------------------------------------------------------------ silent clients, slowloris
BED_TIMEOUT=30 in_ns "$NS_CLI" "$PY" - "$SRV4" >"$BED_DIR/silent.out" 2>&1 <<-'PY' &
	import resource, socket, sys, time
	host = sys.argv[1]
	resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
	socks = []
	for i in range(2000):
	    s = socket.socket()
	    s.settimeout(30)
	    s.connect((host, 8081))
	    socks.append(s)
	t = time.time()
	# silent: jfe gives up sniffing after 2 s and passes through; the service then waits too,
	# so nothing comes back, but jfe holds no hello state for them any more
	time.sleep(3)
	for s in socks:
	    s.close()
	print("OK", len(socks), "silent clients held", round(time.time() - t, 1), "s")
	PY
silent=$!
BED_TIMEOUT=30 in_ns "$NS_CLI" "$PY" - "$SRV4" >"$BED_DIR/slowloris.out" 2>&1 <<-'PY' &
	import os, socket, sys, time
	host = sys.argv[1]
	hello = bytes.fromhex("16030100c8010000c40303") + os.urandom(32) + b"\x00\x00\x02\x13\x01\x01\x00" + b"\x00" * 150
	s = socket.socket()
	s.connect((host, 443))
	t = time.time()
	try:
	    for b in hello:
	        s.send(bytes([b]))
	        time.sleep(0.2)
	        if time.time() - t > 15:
	            break
	    s.settimeout(5)
	    s.recv(1)
	except OSError:
	    pass
	print("OK dribbled for", round(time.time() - t, 1), "s")
	PY
slow=$!
sleep 1
# meanwhile others are served at once
t0=$(now)
ok=0
for i in 1 2 3 4 5; do
	out=$(curl_in "$NS_CLI" -k -m 3 "https://$SRV4:443/" 2>&1) && [[ $out == *"sees peer"* ]] && ok=$((ok + 1))
done
el=$(elapsed "$t0")
[[ $ok == 5 ]] && pass robust.others_served_during_silent_flood "5/5 in $el s" ||
	fail robust.others_served_during_silent_flood "$ok/5"
wait "$silent" "$slow"
grep -q '^OK 2000' "$BED_DIR/silent.out" && pass robust.silent_clients_bounded "$(cat "$BED_DIR/silent.out")" ||
	fail robust.silent_clients_bounded "$(cat "$BED_DIR/silent.out")"
# the dribbling client is cut off by the sniff timeout (2 s), long before it finishes
secs=$(awk '/^OK/ {print $4}' "$BED_DIR/slowloris.out")
if grep -q 'end=hello-timeout' "$JFE_LOG" && awk -v s="${secs:-99}" 'BEGIN { exit !(s < 10) }'; then
	pass robust.slowloris_bounded "$(cat "$BED_DIR/slowloris.out")"
else
	fail robust.slowloris_bounded "$(cat "$BED_DIR/slowloris.out")"
fi
sleep 1
cur=$(jfe_status --json | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["traffic"]["active"]; print(sum(d.values()))' 2>/dev/null)
[[ $cur == 0 ]] && pass robust.connections_back_to_zero || fail robust.connections_back_to_zero "active=$cur"
jfe_stop

# ------------------------------------------------------------------ out of descriptors
JFE_LOG_PREV=$JFE_LOG
if jfe_start --workers 1 --max-conns 100000; then
	prlimit --pid "$JFE_PID" --nofile=64:64
	BED_TIMEOUT=30 in_ns "$NS_CLI" "$PY" - "$SRV4" >"$BED_DIR/fds.out" 2>&1 <<-'PY'
		import socket, sys, time
		host = sys.argv[1]
		socks = []
		for i in range(200):
		    s = socket.socket()
		    s.settimeout(2)
		    try:
		        s.connect((host, 8080))
		        socks.append(s)
		    except OSError:
		        pass
		time.sleep(1)
		for s in socks:
		    s.close()
		print("OK", len(socks))
		PY
	cpu1=$(awk '{print $14 + $15}' "/proc/$JFE_PID/stat")
	sleep 2
	cpu2=$(awk '{print $14 + $15}' "/proc/$JFE_PID/stat")
	prlimit --pid "$JFE_PID" --nofile=65536:65536
	sleep 0.5
	out=$(curl_in "$NS_CLI" -k -m 5 "https://$SRV4:443/" 2>&1)
	if grep -qE '(accept|upstream socket): .*pausing' "$JFE_LOG" && [[ $out == *"sees peer"* ]] &&
		((cpu2 - cpu1 < 50)); then
		pass robust.fd_exhaustion_recovers "paused, idle CPU $((cpu2 - cpu1)) ticks in 2 s, serving again"
	else
		fail robust.fd_exhaustion_recovers "cpu ticks $((cpu2 - cpu1)) out='$out'"
	fi
	jfe_stop
else
	fail robust.fd_jfe_start
fi

# ------------------------------------------------------------------ testssl.sh
if command -v testssl >/dev/null; then
	jfe_start || fail robust.testssl_jfe_start
	BED_TIMEOUT=240 in_cli testssl --quiet --color 0 --warnings off --fast -p -U \
		--jsonfile "$BED_DIR/testssl.json" "$SRV4:443" >"$BED_DIR/testssl.txt" 2>&1
	summary=$("$PY" - "$BED_DIR/testssl.json" <<-'PY'
		import json, sys
		d = json.load(open(sys.argv[1]))
		bad, offered = [], []
		for f in d:
		    fid, sev, fin = f.get("id", ""), f.get("severity", ""), f.get("finding", "")
		    if fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1") and "not offered" not in fin:
		        bad.append(f"{fid}: {fin}")
		    if fid in ("TLS1_2", "TLS1_3") and "offered" in fin and "not" not in fin:
		        offered.append(fid)
		    if sev in ("LOW", "MEDIUM", "HIGH", "CRITICAL") and fid not in ("overall_grade",):
		        bad.append(f"{fid} {sev}: {fin}")
		print("BAD" if bad else "OK", "offered:", ",".join(offered), "|", "; ".join(bad))
		PY
	)
	cp "$BED_DIR/testssl.txt" /tmp/jfe-testssl-latest.txt 2>/dev/null
	if [[ $summary == OK* && $summary == *TLS1_2* && $summary == *TLS1_3* ]]; then
		pass robust.testssl_clean "$summary"
	else
		fail robust.testssl_clean "$summary"
	fi
	jfe_stop
else
	fail robust.testssl_clean "testssl.sh not installed (apt-get install testssl.sh)"
fi

if [[ -n $(jfe_sanitizer_reports 2>/dev/null) ]]; then fail robust.sanitizers_clean; else pass robust.sanitizers_clean; fi
bed_finish
