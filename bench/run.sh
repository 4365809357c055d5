#!/usr/bin/env bash
# bench/run.sh — jfe side by side with the proxies a user would pick instead (issue 4).
#
# One run, one machine: two private network namespaces ("srv": nginx backend, iperf3 -s, the
# peers, jfe; "cli": wrk, openssl s_time, iperf3 -c, the idle-connection holder) joined by one
# veth pair, 10.88.0.1 (srv) <-> 10.88.0.2 (cli). The contenders take turns on the same backend
# and clients:
#   direct         client -> 10.88.0.1:18080 (backend) / :18201 (iperf3 -s), no proxy
#   jfe-w1, jfe-w2 the same addresses, intercepted by jfe's nftables TPROXY in srv
#                  (`jfe run --ports 18080,18201 --workers 1|2 --acme-directory none`)
#   peers          client -> 10.88.0.1:<peer port> -> backend 10.88.0.1:18080 / :18201
#                  TLS: haproxy (mode tcp + ssl), stunnel, nginx stream ssl, hitch
#                  plain: haproxy mode tcp (with and without forced splice), nginx stream, socat
# Peer configs: bench/configs/ (perf-peers.md's, re-addressed). Every TLS listener: ECDSA P-256
# certificate, TLS 1.3.  One worker/thread per contender wherever it can be chosen.
# The acme-ttfb test (jfe only: no peer issues certificates on demand) adds a third namespace
# "acme" (10.88.0.3, its own veth pair to srv) with Pebble and pebble-challtestsrv (every name
# resolves to 10.88.0.1), and runs jfe with --acme-directory pointing at that Pebble.
#
# Environment:
#   BENCH_QUICK=1        1 round × 5 s, 500 idle connections, only the figures the issue lists
#                        (no Connection: close, no TLS stream test, no jfe-w2): about 4.5 minutes
#   BENCH_ROUNDS=N       rounds (default 3; quick 1)      BENCH_SECONDS=S  seconds per measurement
#                        (default 10; quick 5)
#   BENCH_IDLE_CONNS=N   idle connections held for the memory figures (default 2000; quick 1000)
#   BENCH_TESTS=LIST     comma list of tests (default: all; see TESTS below)
#   BENCH_ONLY=LIST      comma list of contenders (default: all; quick: all but jfe-w2)
#   JFE_EXTRA="OPTS"     extra `jfe run` options (diagnostics, e.g. --no-preserve-source)
#   BENCH_ACME_NAMES=N   acme-ttfb: never-seen names timed one by one (default 8; quick 5)
#   BENCH_ACME_RATE=R    acme-ttfb: background full TLS handshakes per second (default 200)
#   BENCH_PERF=1         also `perf record -g` jfe-w1 during tls-ka100, tls-bulk1m, tls-stime and
#                        plain-iperf (report in bench/results/<ts>-perf/)
#   BENCH_KEEP=1         keep the scratch directory (configs, logs, raw client output)
#   JFE_BIN              jfe binary (default ./jfe of this repository)
# Results: bench/results/<timestamp>.{json,md} and latest.{json,md}.
set -u

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
TOOLS=$BENCH/tools
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
BT="$PY $TOOLS/benchtool.py"
JFE_BIN=${JFE_BIN:-$REPO/jfe}

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
	ROUNDS=${BENCH_ROUNDS:-1} SECS=${BENCH_SECONDS:-5} IDLE_N=${BENCH_IDLE_CONNS:-500}
	# the figures the issue asks for, jfe-w2 left out (BENCH_ONLY=… brings it back): ~4.5 minutes
	DEFAULT_TESTS=tls-ka100,tls-bulk1m,tls-stime,idle-tls,plain-ka100,plain-bulk1m,plain-iperf,idle-plain,acme-ttfb
	DEFAULT_ONLY=direct,haproxy,haproxy-splice,socat,stunnel,nginx-stream,hitch,jfe-w1
	ACME_NAMES=${BENCH_ACME_NAMES:-5}
	MODE=quick
else
	ROUNDS=${BENCH_ROUNDS:-3} SECS=${BENCH_SECONDS:-10} IDLE_N=${BENCH_IDLE_CONNS:-2000}
	DEFAULT_TESTS=tls-ka100,tls-bulk1m,tls-close100,tls-stime,tls-stream,idle-tls,plain-ka100,plain-bulk1m,plain-close100,plain-iperf,idle-plain,acme-ttfb
	DEFAULT_ONLY=
	ACME_NAMES=${BENCH_ACME_NAMES:-8}
	MODE=full
fi
TESTS=${BENCH_TESTS:-$DEFAULT_TESTS}
ONLY=${BENCH_ONLY:-$DEFAULT_ONLY}
ACME_RATE=${BENCH_ACME_RATE:-200}

# nothing here may wander off to a proxy named in the environment (curl, jfe's libcurl, Pebble)
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

SRV=10.88.0.1 CLI=10.88.0.2 ACME=10.88.0.3
ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_SRV=jfebench$ID-srv NS_CLI=jfebench$ID-cli NS_ACME=jfebench$ID-acme
WD=
NETNS=()
declare -A PID=()      # server name -> PID (ip netns exec execs: the server itself)
JFE_PID='' JFE_N=0
CLEANED=0
T_START=$(date +%s)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ------------------------------------------------------------------ packages
install_packages() {
	local need=() b
	for b in haproxy:haproxy stunnel4:stunnel4 nginx:nginx wrk:wrk socat:socat iperf3:iperf3 \
		hitch:hitch openssl:openssl curl:curl pebble:pebble pebble-challtestsrv:pebble; do
		command -v "${b%%:*}" >/dev/null 2>&1 || need+=("${b#*:}")
	done
	[[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]] || need+=(libnginx-mod-stream)
	[[ -x /usr/bin/python3 ]] || need+=(python3)
	command -v ip >/dev/null 2>&1 || need+=(iproute2)
	command -v nft >/dev/null 2>&1 || need+=(nftables)
	[[ ${#need[@]} -eq 0 ]] && return 0
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	log "installing: ${need[*]}"
	apt-get update -qq >/dev/null || die "apt-get update failed"
	# policy-rc.d (if any) keeps the packages' services from starting; we disable them afterwards
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
		>/dev/null || die "apt-get install ${need[*]} failed"
	# never leave a service enabled: everything here runs by hand, in namespaces
	local s
	for s in haproxy nginx hitch stunnel4 iperf3; do
		command -v systemctl >/dev/null 2>&1 && systemctl disable "$s" >/dev/null 2>&1
		command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$s" disable >/dev/null 2>&1
	done
	command -v systemctl >/dev/null 2>&1 && systemctl disable stunnel.target >/dev/null 2>&1
	return 0
}

# ------------------------------------------------------------------ processes
alive() { local st; [[ -r /proc/$1/stat ]] || return 1; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null); [[ -n $st && $st != Z && $st != X ]]; }

descendants() { # PID -> PID and all its descendants
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}

# start NAME NS CMD…  (output in $WD/logs/NAME.log)
start() {
	local name=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" >"$WD/logs/$name.log" 2>&1 </dev/null &
	PID[$name]=$!
}

# stop_pid PID: TERM it, wait (bounded), then KILL it and whatever is left of its tree
stop_pid() {
	local p=$1 i tree
	[[ -n $p ]] || return 0
	tree=$(descendants "$p")
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 100; i++)); do alive "$p" || break; sleep 0.05; done
	for i in $tree; do alive "$i" && kill -KILL "$i" 2>/dev/null; done
	wait "$p" 2>/dev/null
	return 0
}

stop() { local name=$1; [[ -n ${PID[$name]:-} ]] && stop_pid "${PID[$name]}"; unset "PID[$name]"; }

listening() { # NS HOST PORT
	ip netns exec "$1" ss -Hltn "sport = :$3" 2>/dev/null | awk -v h="$2" -v p="$3" '
		{ n = split($4, a, ":"); lh = substr($4, 1, length($4) - length(a[n]) - 1); gsub(/^\[|\]$/, "", lh)
		  if (a[n] == p && (lh == h || lh == "*" || lh == "0.0.0.0")) f = 1 } END { exit !f }'
}

wait_port() { # NS HOST PORT [TIMEOUT_S]
	local i n=$(( ${4:-10} * 20 ))
	for ((i = 0; i < n; i++)); do listening "$1" "$2" "$3" && return 0; sleep 0.05; done
	log "nothing listens on $2:$3 in $1 after ${4:-10}s"
	return 1
}

cleanup() {
	local n p ns
	[[ $CLEANED == 1 ]] && return 0
	CLEANED=1
	trap - INT TERM
	[[ -n $JFE_PID ]] && stop_pid "$JFE_PID"
	for n in "${!PID[@]}"; do stop_pid "${PID[$n]}"; done
	# anything still inside our namespaces was started by this run (forks of socat, s_time…)
	for ns in "${NETNS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [[ -n $WD && -d $WD ]]; then
		if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WD"; else rm -rf "$WD"; fi
	fi
}

# ------------------------------------------------------------------ set-up
netns_up() {
	local ns
	for ns in "$NS_SRV" "$NS_CLI"; do
		ip netns add "$ns" || die "ip netns add $ns failed"
		NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
	# both ends created straight inside the namespaces: nothing in the root namespace
	ip -n "$NS_SRV" link add veth0 type veth peer name veth0 netns "$NS_CLI" || die "veth"
	ip -n "$NS_SRV" addr add "$SRV/24" dev veth0
	ip -n "$NS_CLI" addr add "$CLI/24" dev veth0
	ip -n "$NS_SRV" link set veth0 up
	ip -n "$NS_CLI" link set veth0 up
	local i
	for ((i = 0; i < 50; i++)); do
		ip -n "$NS_CLI" link show veth0 2>/dev/null | grep -q 'state UP' &&
			ip -n "$NS_SRV" link show veth0 2>/dev/null | grep -q 'state UP' && return 0
		sleep 0.1
	done
	die "veth0 between $NS_CLI and $NS_SRV is not up"
}

prepare_files() {
	mkdir -p "$WD"/{conf,certs,www,logs,out,tmp/ocsp,jfe-cache}
	chmod 755 "$WD" "$WD/www" "$WD/tmp" "$WD/tmp/ocsp"
	# ECDSA P-256 for every contender (jfe makes its own P-256 fallback certificate)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$WD/certs/key.pem" -out "$WD/certs/cert.pem" -days 30 -subj /CN=bench.test \
		-addext "subjectAltName=DNS:bench.test,IP:$SRV" >/dev/null 2>&1 || die "openssl req"
	cat "$WD/certs/cert.pem" "$WD/certs/key.pem" >"$WD/certs/combined.pem"
	chmod 644 "$WD/certs/"*.pem
	head -c 75 /dev/urandom | base64 -w0 | head -c 100 >"$WD/www/100b.bin"
	head -c 1048576 /dev/urandom >"$WD/www/1m.bin"
	[[ $(stat -c %s "$WD/www/100b.bin") == 100 ]] || die "100b.bin"
	chmod 644 "$WD/www/"*
	local f
	for f in "$BENCH"/configs/*; do
		sed -e "s|@DIR@|$WD|g" -e "s|@SRV@|$SRV|g" -e "s|@ACME@|$ACME|g" "$f" >"$WD/conf/$(basename "$f")"
	done
}

# server NAME: (re)start one of the built-in servers in srv and wait for its port
server() {
	local name=$1 port
	stop "$name"
	case $name in
	backend) start backend "$NS_SRV" nginx -e "$WD/logs/nginx-backend.err" -p "$WD" -c "$WD/conf/nginx-backend.conf"; port=18080 ;;
	iperf3) start iperf3 "$NS_SRV" iperf3 -s -B "$SRV" -p 18201; port=18201 ;;
	haproxy-tls) start haproxy-tls "$NS_SRV" haproxy -db -f "$WD/conf/haproxy-tls.cfg"; port=18443 ;;
	haproxy-tcp) start haproxy-tcp "$NS_SRV" haproxy -db -f "$WD/conf/haproxy-tcp.cfg"; port=18081 ;;
	stunnel) start stunnel "$NS_SRV" stunnel4 "$WD/conf/stunnel.conf"; port=18445 ;;
	nginx-stream) start nginx-stream "$NS_SRV" nginx -e "$WD/logs/nginx-stream.err" -p "$WD" -c "$WD/conf/nginx-stream.conf"; port=18446 ;;
	hitch) start hitch "$NS_SRV" hitch --config="$WD/conf/hitch.conf"; port=18447 ;;
	hitch-iperf) start hitch-iperf "$NS_SRV" hitch --config="$WD/conf/hitch-iperf.conf"; port=18457 ;;
	socat-http) start socat-http "$NS_SRV" socat -b 65536 "TCP-LISTEN:18082,bind=$SRV,reuseaddr,fork,backlog=4096" "TCP:$SRV:18080,nodelay"; port=18082 ;;
	socat-iperf) start socat-iperf "$NS_SRV" socat -b 65536 "TCP-LISTEN:18212,bind=$SRV,reuseaddr,fork,backlog=4096" "TCP:$SRV:18201,nodelay"; port=18212 ;;
	*) die "unknown server $name" ;;
	esac
	wait_port "$NS_SRV" "$SRV" "$port" 10 || { log "server $name did not come up:"; tail -5 "$WD/logs/$name.log" >&2; return 1; }
}

ALL_SERVERS=(backend iperf3 haproxy-tls haproxy-tcp stunnel nginx-stream hitch hitch-iperf socat-http socat-iperf)

# ------------------------------------------------------------------ jfe
# jfe_start WORKERS [OPTION…]: OPTIONs (the acme-ttfb test's cache, ports and ACME settings)
# replace the defaults -c jfe-cache --acme-directory none --ports 18080,18201. The instance
# metadata service is looked for on loopback, where nothing answers (as in tests/lib/bed.sh).
jfe_start() {
	# shellcheck disable=SC2054  # "18080,18201" is one word, jfe's port list
	local i w=$1 opts=(-c "$WD/jfe-cache" --acme-directory none --ports 18080,18201)
	shift
	(($#)) && opts=("$@")
	JFE_N=$((JFE_N + 1))
	rm -f "$WD/jfe.sock"
	ip netns exec "$NS_SRV" "$JFE_BIN" run "${opts[@]}" --imds-endpoint http://127.0.0.1:9 \
		--control-socket "$WD/jfe.sock" --workers "$w" ${JFE_EXTRA:-} \
		>"$WD/logs/jfe.$JFE_N.log" 2>&1 </dev/null &
	JFE_PID=$!
	for ((i = 0; i < 400; i++)); do
		alive "$JFE_PID" || { log "jfe exited during start-up:"; tail -5 "$WD/logs/jfe.$JFE_N.log" >&2; JFE_PID=; return 1; }
		if listening "$NS_SRV" 127.0.0.1 1 && ip netns exec "$NS_SRV" nft list tables 2>/dev/null | grep -qx 'table inet jfe'; then
			return 0
		fi
		sleep 0.05
	done
	log "jfe did not come up in 20 s"
	return 1
}

jfe_stop() {
	[[ -n $JFE_PID ]] || return 0
	stop_pid "$JFE_PID"
	JFE_PID=
	# the rules must be gone, or the next "direct" run would still be intercepted
	if ip netns exec "$NS_SRV" nft list tables 2>/dev/null | grep -qx 'table inet jfe'; then
		log "WARNING: table inet jfe left behind after jfe stopped; deleting it"
		ip netns exec "$NS_SRV" nft delete table inet jfe
	fi
}

jfe_counters() { # -> k=v pairs from `jfe status --json`
	timeout 5 ip netns exec "$NS_SRV" "$JFE_BIN" status --json --control-socket "$WD/jfe.sock" 2>/dev/null |
		$PY -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
def find(o):
    if isinstance(o, dict):
        if "accepted" in o and "total" in o:
            return o
        for v in o.values():
            r = find(v)
            if r: return r
    return None
t = find(j) or {}
out = {"jfe_accepted": t.get("accepted"), "jfe_accept_errors": t.get("accept_errors"),
       "jfe_handshake_failures": t.get("handshake_failures"), "jfe_upstream_failures": t.get("upstream_failures")}
for k, v in (t.get("total") or {}).items():
    out["jfe_total_" + k] = v
print(" ".join(f"{k}={v}" for k, v in out.items() if v is not None))'
}

# warm-up: the first TLS client of a destination makes jfe probe whether the service speaks TLS
# itself (verdict cached per worker); a few connections so that every worker has seen one
warmup() { # KIND(tls|plain) PORT
	local i scheme=http pids=()
	[[ $1 == tls ]] && scheme=https
	for ((i = 0; i < 8; i++)); do
		timeout 10 ip netns exec "$NS_CLI" curl -q -sk -o /dev/null -m 5 "$scheme://$SRV:$2/100b.bin" &
		pids+=($!)
	done
	wait "${pids[@]}"    # (a bare `wait` would wait for the servers too)
}

warmup_iperf_tls() { # PORT: a TLS handshake to the iperf3 port, without data
	local i pids=()
	for ((i = 0; i < 4; i++)); do
		timeout 10 ip netns exec "$NS_CLI" openssl s_client -connect "$SRV:$1" -brief </dev/null >/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# ------------------------------------------------------------------ contenders
declare -A TLS_HTTP_PORT=([haproxy]=18443 [stunnel]=18445 [nginx-stream]=18446 [hitch]=18447 [jfe-w1]=18080 [jfe-w2]=18080)
declare -A TLS_IPERF_PORT=([haproxy]=18453 [stunnel]=18455 [nginx-stream]=18456 [hitch]=18457 [jfe-w1]=18201 [jfe-w2]=18201)
declare -A TLS_HTTP_PROC=([haproxy]=haproxy-tls [stunnel]=stunnel [nginx-stream]=nginx-stream [hitch]=hitch)
declare -A TLS_IPERF_PROC=([haproxy]=haproxy-tls [stunnel]=stunnel [nginx-stream]=nginx-stream [hitch]=hitch-iperf)
declare -A PLAIN_HTTP_PORT=([direct]=18080 [haproxy]=18081 [haproxy-splice]=18084 [socat]=18082 [nginx-stream]=18083 [jfe-w1]=18080 [jfe-w2]=18080)
declare -A PLAIN_IPERF_PORT=([direct]=18201 [haproxy]=18211 [haproxy-splice]=18214 [socat]=18212 [nginx-stream]=18213 [jfe-w1]=18201 [jfe-w2]=18201)
declare -A PLAIN_HTTP_PROC=([haproxy]=haproxy-tcp [haproxy-splice]=haproxy-tcp [socat]=socat-http [nginx-stream]=nginx-stream)
declare -A PLAIN_IPERF_PROC=([haproxy]=haproxy-tcp [haproxy-splice]=haproxy-tcp [socat]=socat-iperf [nginx-stream]=nginx-stream)
TLS_CONTENDERS=(haproxy stunnel nginx-stream hitch jfe-w1 jfe-w2)
PLAIN_CONTENDERS=(direct haproxy haproxy-splice socat nginx-stream jfe-w1 jfe-w2)

selected() { [[ -z $ONLY ]] || [[ ,$ONLY, == *,$1,* ]]; }

# rotate LIST by N (so that no contender always runs first or last)
rotate() { local n=$1; shift; local a=("$@") k=${#a[@]} i; for ((i = 0; i < k; i++)); do echo "${a[$(((i + n) % k))]}"; done; }

# The TIME-WAIT sockets a contender's Connection: close test leaves (hundreds of thousands
# in 10 s, 60 s each) slow the next contender's connections down (measured: the second of two
# identical runs 37-45 % slower, with jfe's old and new binaries alike; after jfe stops, its
# transparent TIME-WAIT sockets meet the direct run's SYNs: 950 instead of 59 000 req/s).
# Each measurement starts without them (ss -K; a few passes, it takes them in batches).
flush_time_wait() {
	local ns i
	for ns in "$NS_SRV" "$NS_CLI"; do
		for ((i = 0; i < 10; i++)); do
			(( $(ip netns exec "$ns" ss -tanH state time-wait 2>/dev/null | wc -l) < 50 )) && break
			ip netns exec "$ns" ss -K -tanH state time-wait >/dev/null 2>&1 || break
		done
	done
}

# ------------------------------------------------------------------ one measurement
# measure ROUND TEST CONTENDER
measure() {
	local r=$1 t=$2 c=$3 kind port proc procpid out="$WD/out/r$1-$2-$3" rc=0
	local s0 s1 pc0 pc1 bc0 bc1 b0 b1 tot0 tot1 t0 t1 ctime extra=() clientpid='' perfpid=''
	case $t in
	tls-*) kind=tls ;;
	*) kind=plain ;;
	esac
	case $t in
	tls-stream) port=${TLS_IPERF_PORT[$c]}; proc=${TLS_IPERF_PROC[$c]:-} ;;
	tls-*) port=${TLS_HTTP_PORT[$c]}; proc=${TLS_HTTP_PROC[$c]:-} ;;
	plain-iperf) port=${PLAIN_IPERF_PORT[$c]}; proc=${PLAIN_IPERF_PROC[$c]:-} ;;
	*) port=${PLAIN_HTTP_PORT[$c]}; proc=${PLAIN_HTTP_PROC[$c]:-} ;;
	esac
	# a peer that died is restarted (and said so)
	if [[ -n $proc ]] && ! alive "${PID[$proc]:-0}"; then
		log "WARNING: $proc was not running; restarting it"
		server "$proc" || return 1
	fi
	alive "${PID[backend]:-0}" || { log "WARNING: backend died; restarting"; server backend; }
	alive "${PID[iperf3]:-0}" || { log "WARNING: iperf3 -s died; restarting"; server iperf3; }
	flush_time_wait
	if [[ $c == jfe-w* ]]; then
		jfe_start "${c#jfe-w}" || return 1
		procpid=$JFE_PID
		case $t in
		tls-stream) warmup_iperf_tls "$port" ;;
		plain-iperf) ;;
		*) warmup "$kind" "$port" ;;
		esac
	else
		procpid=${proc:+${PID[$proc]}}
		case $t in
		tls-stream | plain-iperf) ;;
		*) warmup "$kind" "$port" ;;
		esac
	fi
	if [[ $t == tls-stream ]]; then
		ip netns exec "$NS_CLI" socat -b 65536 TCP-LISTEN:18301,bind=127.0.0.1,reuseaddr,fork \
			"OPENSSL:$SRV:$port,verify=0,nodelay" >"$out.socat.log" 2>&1 </dev/null &
		clientpid=$!
		wait_port "$NS_CLI" 127.0.0.1 18301 5 || { stop_pid "$clientpid"; [[ -n $JFE_PID ]] && jfe_stop; return 1; }
	fi
	if [[ ${BENCH_PERF:-0} == 1 && $c == jfe-w1 && -n $PERFDIR ]] && command -v perf >/dev/null &&
		[[ $t == tls-ka100 || $t == tls-bulk1m || $t == tls-stime || $t == plain-iperf || $t == plain-bulk1m || $t == plain-ka100 ]]; then
		perf record -g -o "$PERFDIR/$t.r$r.data" -p "$JFE_PID" >/dev/null 2>&1 &
		perfpid=$!
		sleep 0.3
	fi
	read -r pc0 bc0 cc0 b0 tot0 <<<"$($BT snap $procpid -- "${PID[backend]}" "${PID[iperf3]}" -- $clientpid)"
	t0=$(date +%s.%N)
	TIMEFORMAT='%3U %3S'
	case $t in
	tls-ka100 | plain-ka100 | tls-bulk1m | plain-bulk1m | tls-close100 | plain-close100)
		local url file=100b.bin scheme=http hdr=()
		[[ $t == *bulk1m ]] && file=1m.bin
		[[ $kind == tls ]] && scheme=https
		[[ $t == *close100 ]] && hdr=(-H 'Connection: close')
		url="$scheme://$SRV:$port/$file"
		{ time timeout -k 5 $((SECS + 30)) ip netns exec "$NS_CLI" wrk -t2 -c50 -d"${SECS}s" \
			-s "$TOOLS/result.lua" "${hdr[@]}" "$url" >"$out.wrk" 2>&1; } 2>"$out.time"
		rc=$?
		extra=(wrk="$out.wrk")
		;;
	tls-stime)
		local i files=() spids=()
		{ time {
			for ((i = 1; i <= 4; i++)); do
				timeout -k 5 $((SECS + 30)) ip netns exec "$NS_CLI" openssl s_time -connect "$SRV:$port" \
					-new -www /100b.bin -time "$SECS" >"$out.stime$i" 2>&1 &
				spids+=($!)
			done
			wait "${spids[@]}"
		}; } 2>"$out.time"
		for ((i = 1; i <= 4; i++)); do files+=("$out.stime$i"); done
		extra=(stime="$(IFS=,; echo "${files[*]}")")
		;;
	tls-stream | plain-iperf)
		local ip=$SRV p=$port
		[[ $t == tls-stream ]] && ip=127.0.0.1 p=18301
		{ time timeout -k 5 $((SECS + 40)) ip netns exec "$NS_CLI" iperf3 -c "$ip" -p "$p" -t "$SECS" -O 1 -J \
			>"$out.iperf" 2>"$out.iperf.err"; } 2>"$out.time"
		rc=$?
		extra=(iperf="$out.iperf")
		;;
	esac
	t1=$(date +%s.%N)
	read -r pc1 bc1 cc1 b1 tot1 <<<"$($BT snap $procpid -- "${PID[backend]}" "${PID[iperf3]}" -- $clientpid)"
	[[ -n $perfpid ]] && { kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null; }
	local ut st
	read -r ut st <"$out.time" || true
	ctime=$(awk -v u="${ut:-0}" -v s="${st:-0}" -v a="$cc0" -v b="$cc1" 'BEGIN { printf "%.3f", u + s + b - a }')
	local jc=''
	[[ -n $JFE_PID ]] && jc=$(jfe_counters)
	[[ -n $clientpid ]] && stop_pid "$clientpid"
	[[ -n $JFE_PID ]] && jfe_stop
	# shellcheck disable=SC2086
	$BT rec "$RAW" kind=run round="$r" test="$t" contender="$c" port="$port" rc="$rc" \
		wall_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
		proxy_cpu_s="$(awk -v a="$pc0" -v b="$pc1" 'BEGIN { printf "%.3f", b - a }')" \
		backend_cpu_s="$(awk -v a="$bc0" -v b="$bc1" 'BEGIN { printf "%.3f", b - a }')" \
		client_cpu_s="$ctime" busy_j=$((b1 - b0)) total_j=$((tot1 - tot0)) "${extra[@]}" $jc
	tail -n1 "$RAW" | $PY -c '
import json, sys, time
r = json.loads(sys.stdin.read())
keys = ["req_s", "gbit_s", "conn_s", "p99_ms", "cpu_us_per_req", "cpu_us_per_conn", "cpu_s_per_gb",
        "proxy_cpu_pct", "socket_errors", "non2xx", "client_errors", "jfe_handshake_failures", "parse_error"]
print(time.strftime("[%H:%M:%S]") + "  %-14s %-15s " % (r["test"], r["contender"]) + " ".join(f"{k}={r[k]}" for k in keys if k in r))' >&2
	# iperf3 -s may be left in a bad state by a failed client: restart it then
	if [[ $t == *stream || $t == *iperf ]] && ! grep -q '"sum_received"' "$out.iperf" 2>/dev/null; then
		log "WARNING: iperf3 run failed ($t $c); restarting iperf3 -s"
		server iperf3
	fi
	return 0
}

# measure_idle ROUND TEST CONTENDER: fresh process, N idle connections, memory before/after
measure_idle() {
	local r=$1 t=$2 c=$3 kind=plain port proc procpid out="$WD/out/r$1-$2-$3.json"
	[[ $t == idle-tls ]] && kind=tls
	if [[ $kind == tls ]]; then port=${TLS_HTTP_PORT[$c]}; proc=${TLS_HTTP_PROC[$c]:-}
	else port=${PLAIN_HTTP_PORT[$c]}; proc=${PLAIN_HTTP_PROC[$c]:-}; fi
	if [[ $c == jfe-w* ]]; then
		jfe_start "${c#jfe-w}" || return 1
		procpid=$JFE_PID
	elif [[ $c == direct ]]; then
		server backend || return 1     # the backend itself holds the connections
		procpid=${PID[backend]}
	else
		server "$proc" || return 1     # freshly started, as in perf-peers.md
		procpid=${PID[$proc]}
	fi
	warmup "$kind" "$port"
	timeout -k 5 $((IDLE_N / 50 + 120)) ip netns exec "$NS_CLI" $BT idle "$SRV" "$port" "$IDLE_N" "$kind" "$out" \
		"$procpid" >"$out.log" 2>&1
	local rc=$? jc=''
	[[ -n $JFE_PID ]] && jc=$(jfe_counters)
	[[ -n $JFE_PID ]] && jfe_stop
	# shellcheck disable=SC2086
	$BT rec "$RAW" kind=run round="$r" test="$t" contender="$c" port="$port" rc="$rc" json="$out" $jc
	tail -n1 "$RAW" | $PY -c '
import json, sys, time
r = json.loads(sys.stdin.read())
keys = ["opened", "failed_open", "failed_req", "idle_rss_b_per_conn", "after_req_rss_b_per_conn", "after_req_pss_b_per_conn", "after_req_fds_per_conn", "parse_error"]
print(time.strftime("[%H:%M:%S]") + "  %-14s %-15s " % (r["test"], r["contender"]) + " ".join(f"{k}={r[k]}" for k in keys if k in r))' >&2
}

# ------------------------------------------------------------------ on-demand issuance (jfe only)
# Pebble and pebble-challtestsrv run in a third namespace, acme (10.88.0.3), joined to srv by a
# veth pair of its own (host routes 10.88.0.1 <-> 10.88.0.3), so that the srv <-> cli link of
# every other test is left as it is. challtestsrv resolves every name to 10.88.0.1; Pebble
# validates HTTP-01 against 10.88.0.1:80, where nothing listens: jfe answers it (port 80 is in
# its --ports). They are started for each acme-ttfb measurement and stopped after it, so that no
# other test runs beside them.
ACME_NETNS=0

acme_netns_up() {
	local i
	[[ $ACME_NETNS == 1 ]] && return 0
	[[ $ACME_NETNS == 2 ]] && return 1     # failed once: not retried (the namespace may exist)
	ACME_NETNS=2
	ip netns add "$NS_ACME" || { log "ip netns add $NS_ACME failed"; return 1; }
	NETNS+=("$NS_ACME")
	ip -n "$NS_ACME" link set lo up
	ip -n "$NS_SRV" link add veth1 type veth peer name veth0 netns "$NS_ACME" || return 1
	ip -n "$NS_ACME" addr add "$ACME/32" dev veth0 || return 1
	ip -n "$NS_SRV" link set veth1 up
	ip -n "$NS_ACME" link set veth0 up
	ip -n "$NS_SRV" route add "$ACME/32" dev veth1 src "$SRV" || return 1
	ip -n "$NS_ACME" route add "$SRV/32" dev veth0 src "$ACME" || return 1
	for ((i = 0; i < 50; i++)); do
		ip -n "$NS_ACME" link show veth0 2>/dev/null | grep -q 'state UP' &&
			ip -n "$NS_SRV" link show veth1 2>/dev/null | grep -q 'state UP' && break
		sleep 0.1
	done
	# Pebble's own HTTPS (Debian ships no certificate for it): a CA jfe trusts (--acme-ca-bundle)
	# and a certificate for 10.88.0.3
	mkdir -p "$WD/pebble"
	(
		cd "$WD/pebble" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
			-out ca.pem -days 30 -subj "/CN=jfe bench pebble-https CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
			-out pebble.csr -subj "/CN=pebble.bench.test" &&
		printf '%s\n' "subjectAltName=DNS:pebble.bench.test,IP:$ACME" 'basicConstraints=CA:FALSE' \
			'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature' >ext.cnf &&
		openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
			-days 30 -extfile ext.cnf
	) >"$WD/logs/pebble-certs.log" 2>&1 || { log "Pebble's HTTPS certificate: openssl failed"; return 1; }
	ACME_NETNS=1
}

acme_udp_listening() { # PORT
	ip netns exec "$NS_ACME" ss -Hlun "sport = :$1" 2>/dev/null | grep -q "$ACME:$1"
}

acme_curl() { # NS ARGS…: curl in NS, bounded, trusting Pebble's HTTPS CA
	local ns=$1
	shift
	timeout 10 ip netns exec "$ns" curl -q -sS -f -m 5 --noproxy '*' --cacert "$WD/pebble/ca.pem" "$@"
}

# acme_up: challtestsrv, then Pebble (no VA sleep, no rejected nonces, no authorization reuse),
# its issuing root in $WD/pebble/root.pem
acme_up() {
	local i
	acme_netns_up || return 1
	if listening "$NS_SRV" "$SRV" 80 || listening "$NS_SRV" 0.0.0.0 80; then
		log "something listens on port 80 in srv: HTTP-01 must be answered by jfe alone"
		return 1
	fi
	start challtestsrv "$NS_ACME" pebble-challtestsrv -defaultIPv4 "$SRV" -defaultIPv6 "" \
		-dns01 "$ACME:8053" -http01 "" -https01 "" -tlsalpn01 "" -management "$ACME:8055"
	wait_port "$NS_ACME" "$ACME" 8055 10 || return 1
	for ((i = 0; i < 100; i++)); do acme_udp_listening 8053 && break; sleep 0.05; done
	acme_udp_listening 8053 || { log "challtestsrv: no DNS on $ACME:8053"; return 1; }
	start pebble "$NS_ACME" env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
		pebble -config "$WD/conf/pebble.json" -dnsserver "$ACME:8053"
	# asked from srv, where jfe runs: the link to acme works both ways (ARP across the /32 routes)
	for ((i = 0; i < 150; i++)); do
		alive "${PID[pebble]}" || { log "pebble exited:"; tail -3 "$WD/logs/pebble.log" >&2; return 1; }
		listening "$NS_ACME" "$ACME" 15000 && acme_curl "$NS_SRV" -o /dev/null "https://$ACME:14000/dir" 2>/dev/null && break
		sleep 0.1
	done
	acme_curl "$NS_SRV" -o "$WD/pebble/root.pem" "https://$ACME:15000/roots/0" &&
		grep -q 'BEGIN CERTIFICATE' "$WD/pebble/root.pem" || { log "Pebble did not come up (from $NS_SRV)"; return 1; }
}

acme_down() { stop pebble; stop challtestsrv; }

# bench_acme_ttfb ROUND CONTENDER (jfe-w1|jfe-w2): a fresh jfe (new cache: a new ACME account)
# with --acme-directory <Pebble>, then `benchtool.py acme` in cli (see cmd_acme there): time to
# first byte of never-seen names, and the handshake p50/p99 of an already-issued name under a
# steady load in windows without and with issuance running.
bench_acme_ttfb() {
	local r=$1 c=$2 out="$WD/out/r$1-acme-ttfb-$2.json" cache="$WD/jfe-acme.r$1.$2" rc jc
	local suffix="r$r-${c#jfe-}.$ID.bench.test" jlog po pi ji
	acme_up || { log "acme-ttfb: Pebble/challtestsrv did not start"; acme_down; return 1; }
	mkdir -p "$cache"
	# admission budgets raised to their maxima: the bench orders dozens of names from one client
	jfe_start "${c#jfe-w}" -c "$cache" --ports 80,18080 --acme-directory "https://$ACME:14000/dir" \
		--acme-ca-bundle "$WD/pebble/ca.pem" --public-ip "$SRV" --dns-server "$ACME:8053" \
		--names-per-hour 10000 --names-per-day 100000 --names-per-domain-week 10000 \
		--names-per-client-hour 10000 || { acme_down; return 1; }
	jlog=$WD/logs/jfe.$JFE_N.log
	# the TLS probe of the backend (first TLS client of a destination) before anything is timed
	warmup tls 18080
	# the load runs twice the test's seconds: about half of it with an order in flight. In the
	# background + wait: a TERM/INT is acted on at once (bash defers traps until a foreground
	# child ends), and the trap's clean-up kills the client with everything else in cli.
	timeout -k 5 $((ACME_NAMES * 50 + SECS * 2 + 150)) ip netns exec "$NS_CLI" $BT acme "$SRV" 18080 \
		"$WD/pebble/root.pem" "hot.$suffix" "$suffix" "$ACME_NAMES" $((SECS * 2)) "$ACME_RATE" "$out" \
		>"$out.log" 2>&1 </dev/null &
	wait $!
	rc=$?
	jc=$(jfe_counters)
	jfe_stop
	# cross-checks: one Pebble order and one certificate per name, as many "certificate issued"
	po=$(grep -c 'Added order' "$WD/logs/pebble.log")
	pi=$(grep -c 'Issued certificate serial' "$WD/logs/pebble.log")
	ji=$(grep -c 'certificate issued' "$jlog")
	acme_down
	# shellcheck disable=SC2086
	$BT rec "$RAW" kind=run round="$r" test=acme-ttfb contender="$c" port=18080 rc="$rc" json="$out" \
		pebble_orders="$po" pebble_issued="$pi" jfe_issued="$ji" $jc
	tail -n1 "$RAW" | $PY -c '
import json, sys, time
r = json.loads(sys.stdin.read())
keys = ["hot_first_ms", "ttfb_median_ms", "ttfb_max_ms", "ttfb_load_median_ms", "base_p50_ms", "issue_p50_ms",
        "base_p99_ms", "issue_p99_ms", "p99_ratio", "base_n", "issue_n", "bg_rate_s", "issue_cover_pct", "new_names",
        "new_failed", "bg_failed", "pebble_orders", "pebble_issued", "jfe_issued", "hot_error", "parse_error"]
print(time.strftime("[%H:%M:%S]") + "  %-14s %-15s " % (r["test"], r["contender"]) + " ".join(f"{k}={r[k]}" for k in keys if k in r))' >&2
	return 0
}

# ------------------------------------------------------------------ the run
crypto() {
	local c f=()
	for c in aes-128-gcm aes-256-gcm chacha20-poly1305; do
		openssl speed -mr -seconds 1 -bytes 16384 -evp "$c" >"$WD/out/speed-$c" 2>&1
		f+=("$WD/out/speed-$c")
	done
	openssl speed -mr -seconds 1 ecdsap256 >"$WD/out/speed-ecdsa" 2>&1
	openssl speed -mr -seconds 1 ecdhx25519 >"$WD/out/speed-x25519" 2>&1
	$BT crypto "$RAW" "${f[@]}" "$WD/out/speed-ecdsa" "$WD/out/speed-x25519"
}

tls_check() { # which protocol/cipher/key each TLS contender negotiates
	local c port line curve
	for c in "${TLS_CONTENDERS[@]}"; do
		selected "$c" || continue
		[[ $c == jfe-w2 ]] && continue
		port=${TLS_HTTP_PORT[$c]}
		[[ $c == jfe-w1 ]] && { jfe_start 1 || continue; }
		line=$(timeout 10 ip netns exec "$NS_CLI" openssl s_client -connect "$SRV:$port" -brief </dev/null 2>&1 |
			awk -F': ' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 } /Temp Key/ { k = $2 }
				/Signature type/ { s = $2 } END { printf "%s %s %s %s", p, c, s, k }')
		curve=$(timeout 10 ip netns exec "$NS_CLI" openssl s_client -connect "$SRV:$port" </dev/null 2>/dev/null |
			openssl x509 -noout -text 2>/dev/null | sed -n 's/.*ASN1 OID: *//p' | head -1)
		[[ $c == jfe-w1 ]] && jfe_stop
		echo "$c=$line, certificate key ${curve:-?}"
	done
}

main() {
	[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, nftables)"
	[[ -x $JFE_BIN ]] || die "no jfe binary at $JFE_BIN (make jfe)"
	install_packages
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	local nofile
	nofile=$(ulimit -n)
	WD=$(mktemp -d /tmp/jfe-bench.XXXXXX) || die "mktemp"
	chmod 755 "$WD"
	RAW=$WD/raw.jsonl
	: >"$RAW"
	# run a private copy: a rebuild of ./jfe during the run must not change the contender
	local jfe_src=$JFE_BIN jfe_git jfe_built
	jfe_git=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
	jfe_built=$(date -u -r "$JFE_BIN" +%FT%TZ)
	cp "$JFE_BIN" "$WD/jfe" || die "cannot copy $JFE_BIN"
	JFE_BIN=$WD/jfe
	local ts
	ts=$(date -u +%Y%m%dT%H%M%SZ)
	mkdir -p "$BENCH/results"
	PERFDIR=
	if [[ ${BENCH_PERF:-0} == 1 ]]; then PERFDIR=$BENCH/results/$ts-perf; mkdir -p "$PERFDIR"; fi
	local load_before bg0 bg1 bgt0 bgt1 bg_busy bg_top
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	# how busy the machine is before we start anything (other workloads skew every figure)
	read -r _ bg0 bgt0 <<<"$($BT snap)"
	sleep 2
	read -r _ bg1 bgt1 <<<"$($BT snap)"
	bg_busy=$(awk -v a=$((bg1 - bg0)) -v b=$((bgt1 - bgt0)) 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
	bg_top=$(ps -eo pcpu=,comm= --sort=-pcpu | head -3 | awk '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $2, $1 }')
	log "machine busy before the run: $bg_busy % of all CPUs (top: $bg_top)"
	log "mode=$MODE rounds=$ROUNDS seconds=$SECS idle=$IDLE_N nofile=$nofile tests=$TESTS ns=$NS_SRV,$NS_CLI"
	netns_up
	prepare_files
	local s
	for s in "${ALL_SERVERS[@]}"; do server "$s" || die "could not start $s"; done
	# the TLS probe verdicts and caches aside, every contender sees the same warm backend
	log "crypto ceiling (openssl speed -seconds 1)"
	crypto
	log "checking negotiated TLS parameters"
	local tlsck
	tlsck=$(tls_check)
	local r t c i=0
	for ((r = 1; r <= ROUNDS; r++)); do
		log "round $r/$ROUNDS"
		for t in ${TESTS//,/ }; do
			case $t in
			tls-* | idle-tls) list=("${TLS_CONTENDERS[@]}") ;;
			plain-* | idle-plain) list=("${PLAIN_CONTENDERS[@]}") ;;
			acme-ttfb) list=(jfe-w1 jfe-w2) ;;     # no peer issues certificates on demand
			*) log "unknown test $t"; continue ;;
			esac
			for c in $(rotate $((r - 1)) "${list[@]}"); do
				selected "$c" || continue
				if [[ $t == acme-ttfb ]]; then
					bench_acme_ttfb "$r" "$c" || log "WARNING: $t $c failed"
				elif [[ $t == idle-* ]]; then
					[[ $r -gt 1 && -z ${BENCH_IDLE_EVERY_ROUND:-} ]] && continue   # memory: once per run
					measure_idle "$r" "$t" "$c" || log "WARNING: $t $c failed"
				else
					measure "$r" "$t" "$c" || log "WARNING: $t $c failed"
				fi
			done
		done
	done
	local runtime=$(( $(date +%s) - T_START ))
	# meta
	export VERS_HAPROXY=$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}')
	export VERS_NGINX=$(nginx -v 2>&1 | sed 's/.*nginx\///')
	export VERS_STUNNEL=$(stunnel4 -version 2>&1 | awk '/^stunnel/ {print $2; exit}')
	export VERS_HITCH=$(hitch --version 2>&1 | awk '{print $NF; exit}')
	export VERS_SOCAT=$(socat -V 2>/dev/null | awk '/socat version/ {print $3; exit}')
	export VERS_WRK=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null)
	export VERS_IPERF=$(iperf3 --version 2>/dev/null | awk '{print $2; exit}')
	export VERS_OPENSSL=$(openssl version | awk '{print $2}')
	export VERS_PEBBLE=$(dpkg-query -W -f='${Version}' pebble 2>/dev/null)
	TLSCK=$tlsck MODE=$MODE ROUNDS=$ROUNDS SECS=$SECS IDLE_N=$IDLE_N TS=$ts RUNTIME=$runtime \
		LOAD_BEFORE=$load_before BG_BUSY=$bg_busy BG_TOP=$bg_top NOFILE=$nofile TESTS=$TESTS \
		JFE_VERSION=$("$JFE_BIN" version 2>/dev/null | head -1) \
		JFE_BINARY="$jfe_src, sha256 $(sha256sum "$JFE_BIN" | cut -c1-16), built $jfe_built" \
		JFE_GIT=$jfe_git \
		$PY - "$WD/meta.json" <<'EOF'
import json, os, platform, sys
e = os.environ
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
tls = {}
for line in e.get("TLSCK", "").splitlines():
    k, _, v = line.partition("=")
    if k: tls[k] = v
meta = {"started": e["TS"], "mode": e["MODE"], "rounds": int(e["ROUNDS"]), "seconds": int(e["SECS"]),
        "idle_conns": int(e["IDLE_N"]), "runtime_s": int(e["RUNTIME"]), "tests": e["TESTS"].split(","),
        "load_before": e["LOAD_BEFORE"], "background_busy_pct": float(e["BG_BUSY"]),
        "background_top": e["BG_TOP"], "load_after": open("/proc/loadavg").read().split()[:3],
        "nofile": e["NOFILE"], "cpu": cpu, "nproc": os.cpu_count(), "kernel": platform.release(),
        "jfe_version": e["JFE_VERSION"], "jfe_git": e["JFE_GIT"], "jfe_binary": e["JFE_BINARY"], "tls_check": tls,
        "versions": {k.lower(): e.get("VERS_" + k, "") for k in
                     ("HAPROXY", "NGINX", "STUNNEL", "HITCH", "SOCAT", "WRK", "IPERF", "OPENSSL", "PEBBLE")},
        "topology": "netns srv 10.88.0.1 (backend nginx :18080, iperf3 -s :18201, peers, jfe) <-veth-> netns cli 10.88.0.2 (clients); acme-ttfb: netns acme 10.88.0.3 (Pebble, pebble-challtestsrv) <-veth-> srv"}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
	$BT report "$WD" "$BENCH/results/$ts" || die "report failed"
	cp "$BENCH/results/$ts.json" "$BENCH/results/latest.json"
	cp "$BENCH/results/$ts.md" "$BENCH/results/latest.md"
	if [[ -n $PERFDIR ]]; then
		local d
		for d in "$PERFDIR"/*.data; do
			[[ -f $d ]] || continue
			{
				perf report -i "$d" --stdio --no-children -g none --percent-limit 0.5 --sort dso 2>/dev/null \
					| grep -v '^$' | head -30
				perf report -i "$d" --stdio --no-children -g none --percent-limit 0.7 --sort dso,symbol 2>/dev/null \
					| grep -v '^$' | head -60
				perf report -i "$d" --stdio --no-children --percent-limit 1.5 --sort symbol 2>/dev/null \
					| grep -v '^$' | head -80
			} >"${d%.data}.txt"
			rm -f "$d"
		done
	fi
	log "done in ${runtime}s: $BENCH/results/$ts.md (also latest.md / latest.json)"
	# the summary table
	sed -n '/^## jfe vs the best peer/,/^## Crypto/p' "$BENCH/results/$ts.md" | sed '$d'
}

# BENCH_SOURCE_ONLY=1: define everything but run nothing (for debugging: `. bench/run.sh`)
[[ ${BENCH_SOURCE_ONLY:-0} == 1 ]] || main "$@"
