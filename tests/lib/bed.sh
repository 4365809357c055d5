# shellcheck shell=bash disable=SC2034,SC2120,SC2119  # variables and helpers are for the scripts that source this
# tests/lib/bed.sh — the network-namespace test-bed shared by tests/integration/*.sh and tests/demo.sh.
#
# Source it from bash (as root). It gives:
#   topology   bed_up / bed_cleanup (run by the EXIT/INT/TERM trap bed_up installs).
#              Four namespaces named jfe<id>-br, -srv, -cli, -acme (<id>: 6 random hex digits,
#              unique to this run), a bridge br0 in -br, and one veth0 per host:
#                srv  10.77.0.1  fd77::1      ($NS_SRV,  $SRV4,  $SRV6)
#                cli  10.77.0.2  fd77::2      ($NS_CLI,  $CLI4,  $CLI6)
#                acme 10.77.0.3  fd77::3      ($NS_ACME, $ACME4, $ACME6)
#              Nothing is created in, routed through or changed in the root namespace.
#   processes  spawn NS LOG CMD…   start CMD in NS, output to LOG ($BED_DIR/LOG when relative);
#                                  ip netns exec execs, so $LASTPID is CMD's own PID. Every PID is
#                                  recorded and killed by PID on exit.
#              bed_hosts NS "ADDR NAME…"…   an /etc/hosts for commands run in NS only
#              wait_port NS HOST PORT [TIMEOUT]   until something listens there (ss, no connect)
#              in_ns NS CMD…, in_srv CMD…, in_cli CMD…   run with `timeout ${BED_TIMEOUT:-10}`
#              curl_in NS ARGS…    curl -q -sS -m ${CURL_MAX:-5} in NS, bounded
#              py NS TOOL ARGS…    a tests/tools/TOOL with Debian's python3 in NS, bounded
#   jfe        jfe_start [ARGS…]   $JFE_BIN run in srv with a temp cache, temp control socket,
#                                  --acme-directory none and -v; waits (bounded) until its listener
#                                  is on 127.0.0.1:<listen-port> and `table inet jfe` exists.
#                                  Sets JFE_PID, JFE_LOG, JFE_SOCK, JFE_CACHE.
#              jfe_stop [SIG] [TIMEOUT]  signal it (TERM), wait bounded; exit status in $JFE_RC
#              jfe_status [ARGS…]  `jfe status --control-socket $JFE_SOCK` in srv, bounded
#              jfe_log_mark / jfe_log_since MARK   the -v lines written after a mark
#   results    pass NAME [DETAIL] / fail NAME [DETAIL] [LOG…] print "PASS: NAME" / "FAIL: NAME"
#              (details on "  # " lines; on failure the tail of the jfe log and of each LOG);
#              bed_finish prints a "# …" summary and exits 1 when anything failed.
# Environment: JFE_BIN (default ./jfe; relative paths are taken from the current directory, then
# the repository root), BED_KEEP=1 keeps $BED_DIR, JFE_START_TIMEOUT (s, default 20),
# BED_TIMEOUT (s, default 10) for in_ns/in_srv/in_cli.

set -u

BED_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BED_TOOLS=$BED_REPO/tests/tools
# Debian's interpreter: a pyenv shim on PATH is slow to start and may lack nothing we need,
# but /usr/bin/python3 is what tests/deps.sh installs.
if [[ -z ${PY:-} ]]; then
	if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=$(command -v python3 || echo python3); fi
fi

JFE_BIN=${JFE_BIN:-./jfe}
if [[ $JFE_BIN != /* ]]; then
	if [[ -e $JFE_BIN ]]; then JFE_BIN=$(cd "$(dirname "$JFE_BIN")" && pwd)/$(basename "$JFE_BIN")
	else JFE_BIN=$BED_REPO/${JFE_BIN#./}; fi
fi

# no test request may wander off to a proxy named in the environment
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

SRV4=10.77.0.1 CLI4=10.77.0.2 ACME4=10.77.0.3
SRV6=fd77::1 CLI6=fd77::2 ACME6=fd77::3

BED_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS_BR=jfe$BED_ID-br NS_SRV=jfe$BED_ID-srv NS_CLI=jfe$BED_ID-cli NS_ACME=jfe$BED_ID-acme
BED_NETNS=()
BED_PIDS=()
BED_DIR=
BED_PASSED=0 BED_FAILED=0
BED_CLEANED=0
BED_NAME=$(basename "${0:-bed}" .sh)
LASTPID=
JFE_PID='' JFE_LOG='' JFE_SOCK='' JFE_CACHE='' JFE_RC='' JFE_N=0 JFE_LISTEN_PORT=1
JFE_LOGS=()

BED_SAN_RE='ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:'

now() { date +%s.%N; }
# elapsed T0 -> seconds since T0 with 3 decimals
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

bed_log() { echo "# $*" >&2; }

# ------------------------------------------------------------------ results
pass() {
	echo "PASS: $1"
	[[ -n ${2:-} ]] && echo "  # $2"
	BED_PASSED=$((BED_PASSED + 1))
	return 0
}

# fail NAME [DETAIL] [LOG…]: prints FAIL, the detail, and the tails of the current jfe log
# and of each LOG given (relative names are in $BED_DIR).
fail() {
	local name=$1 detail=${2:-} f
	shift; [[ $# -gt 0 ]] && shift
	echo "FAIL: $name"
	[[ -n $detail ]] && printf '%s\n' "$detail" | sed 's/^/  # /'
	if [[ -n $JFE_PID ]] && ! _alive "$JFE_PID"; then
		echo "  # !!! jfe (pid $JFE_PID) is no longer running: it died during the test (see its log)"
	fi
	for f in ${JFE_LOG:+"$JFE_LOG"} "$@"; do
		[[ $f == /* ]] || f=$BED_DIR/$f
		[[ -s $f ]] || continue
		if grep -Eq "$BED_SAN_RE" "$f"; then
			# a crash report's tail is the shadow-byte legend; its head says what happened
			echo "  # --- sanitizer report in ${f#"$BED_DIR"/} ---"
			grep -E -m1 -A20 "$BED_SAN_RE" "$f" | sed 's/^/  #   /'
		else
			echo "  # --- last lines of ${f#"$BED_DIR"/} ---"
			tail -n 15 "$f" | sed 's/^/  #   /'
		fi
	done
	BED_FAILED=$((BED_FAILED + 1))
	return 0
}

# A script that lists its checks in ALL_TESTS (names without the "$BED_NAME." prefix):
# report pass|fail NAME [DETAIL] [LOG…]   pass/fail "$BED_NAME.NAME", remembering NAME;
# not_run REGEX WHY                       a FAIL for every listed check matching REGEX that was
#                                         not reported yet (set-up failures, early exits).
declare -A REPORTED=()
report() { REPORTED[$2]=1; "$1" "$BED_NAME.$2" "${@:3}"; }
not_run() {
	local t
	for t in "${ALL_TESTS[@]}"; do
		[[ -z ${REPORTED[$t]:-} && $t =~ $1 ]] || continue
		report fail "$t" "not run: $2"
	done
}

# check NAME DETAIL CMD…: pass when CMD succeeds, else fail with DETAIL.
check() {
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}

bed_finish() {
	echo "# $BED_NAME: $BED_PASSED passed, $BED_FAILED failed"
	[[ $BED_FAILED -eq 0 && $BED_PASSED -gt 0 ]] && exit 0
	exit 1
}

# ------------------------------------------------------------------ processes
_alive() { # PID: running and not a zombie
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# spawn NS LOG CMD…
spawn() {
	local ns=$1 log=$2
	shift 2
	[[ $log == /* ]] || log=$BED_DIR/$log
	ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
	LASTPID=$!
	BED_PIDS+=("$LASTPID")
}

# _listening NS HOST PORT: a TCP listener on HOST:PORT (or the wildcard address) in NS
_listening() {
	ip netns exec "$1" ss -Hltn 2>/dev/null | awk -v h="$2" -v p="$3" '
		{ la = $4; n = split(la, a, ":"); lp = a[n]; lh = substr(la, 1, length(la) - length(lp) - 1)
		  gsub(/^\[|\]$/, "", lh); sub(/%.*/, "", lh)
		  if (lp == p && (lh == h || lh == "*" || lh == "0.0.0.0" || lh == "::")) found = 1 }
		END { exit !found }'
}

# wait_port NS HOST PORT [TIMEOUT_S=10]
wait_port() {
	local i n=$(( ${4:-10} * 20 ))
	for ((i = 0; i < n; i++)); do
		_listening "$1" "$2" "$3" && return 0
		sleep 0.05
	done
	bed_log "wait_port: nothing listens on $2:$3 in $1 after ${4:-10}s"
	return 1
}

in_ns() { local ns=$1; shift; timeout -k 2 "${BED_TIMEOUT:-10}" ip netns exec "$ns" "$@"; }
# curl_in NS ARGS…: curl without ~/.curlrc (-q), quiet with errors, -m ${CURL_MAX:-5}, bounded
curl_in() { local ns=$1; shift; in_ns "$ns" curl -q -sS -m "${CURL_MAX:-5}" "$@"; }
in_srv() { in_ns "$NS_SRV" "$@"; }
in_cli() { in_ns "$NS_CLI" "$@"; }
# py NS TOOL ARGS…: a tests/tools script with Debian's python, bounded
py() { local ns=$1 tool=$2; shift 2; in_ns "$ns" "$PY" "$BED_TOOLS/$tool" "$@"; }

# ------------------------------------------------------------------ topology
bed_require_root() {
	if [[ $(id -u) -ne 0 ]]; then
		echo "FAIL: $BED_NAME (needs root: network namespaces, nftables)"
		exit 1
	fi
}

bed_up() {
	local ns role i=1
	BED_DIR=$(mktemp -d /tmp/jfe-bed.XXXXXX) || return 1
	trap bed_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for ns in "$NS_BR" "$NS_SRV" "$NS_CLI" "$NS_ACME"; do
		ip netns add "$ns" || { bed_log "ip netns add $ns failed"; return 1; }
		BED_NETNS+=("$ns")
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$NS_BR" link add br0 type bridge || return 1
	ip -n "$NS_BR" link set br0 up || return 1
	for role in srv cli acme; do
		ns=jfe$BED_ID-$role
		# created inside the bridge namespace, peer moved straight into the host namespace
		ip -n "$NS_BR" link add "p-$role" type veth peer name veth0 netns "$ns" || return 1
		ip -n "$NS_BR" link set "p-$role" master br0 up || return 1
		ip -n "$ns" addr add "10.77.0.$i/24" dev veth0 || return 1
		ip -n "$ns" addr add "fd77::$i/64" dev veth0 nodad || return 1
		ip -n "$ns" link set veth0 up || return 1
		i=$((i + 1))
	done
	return 0
}

# bed_hosts NS "ADDR NAME…"…: an /etc/hosts seen only by commands run in NS (`ip netns exec`
# bind-mounts /etc/netns/NS/hosts over /etc/hosts), for clients that take a host name and no
# address (database and mail clients). Removed with the namespaces.
BED_ETC_NETNS=()
bed_hosts() {
	local ns=$1 d=/etc/netns/$1
	shift
	mkdir -p "$d" || return 1
	BED_ETC_NETNS+=("$d")
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$d/hosts"
	printf '%s\n' "$@" >>"$d/hosts"
}

# bed_scratch_ns: one more empty namespace (lo up), deleted with the rest; its name in $BED_SCRATCH.
# (Not in a $(…) subshell: the name must be recorded in this shell for the cleanup.)
bed_scratch_ns() {
	BED_SCRATCH=jfe$BED_ID-s${#BED_NETNS[@]}
	ip netns add "$BED_SCRATCH" || return 1
	BED_NETNS+=("$BED_SCRATCH")
	ip -n "$BED_SCRATCH" link set lo up
}

bed_cleanup() {
	local p ns i alive
	[[ $BED_CLEANED == 1 ]] && return 0
	BED_CLEANED=1
	trap - INT TERM
	for p in "${BED_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for ((i = 0; i < 50; i++)); do
		alive=0
		for p in "${BED_PIDS[@]}"; do _alive "$p" && alive=1; done
		[[ $alive == 0 ]] && break
		sleep 0.1
	done
	for p in "${BED_PIDS[@]}"; do _alive "$p" && kill -KILL "$p" 2>/dev/null; done
	# anything still inside our own namespaces was started by this run (forked children)
	for ns in "${BED_NETNS[@]}"; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
	for p in "${BED_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${BED_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for p in "${BED_ETC_NETNS[@]}"; do
		[[ $p == /etc/netns/jfe$BED_ID-* ]] && rm -rf "$p"
	done
	if [[ -n $BED_DIR && -d $BED_DIR ]]; then
		if [[ ${BED_KEEP:-0} == 1 ]]; then bed_log "kept $BED_DIR"; else rm -rf "$BED_DIR"; fi
	fi
}

# ------------------------------------------------------------------ nftables / routing state in srv
nft_has_jfe_table() { ip netns exec "${1:-$NS_SRV}" nft list tables 2>/dev/null | grep -qx 'table inet jfe'; }
# ip rules other than the three defaults (local/main/default), both families
bed_extra_rules() {
	local ns=${1:-$NS_SRV}
	{ ip -n "$ns" rule show; ip -n "$ns" -6 rule show; } 2>/dev/null |
		grep -Ev '^(0|32766|32767):[[:space:]]+from all lookup (local|main|default)[[:space:]]*$'
}

# ------------------------------------------------------------------ jfe
jfe_start() {
	local a prev='' i deadline_n
	JFE_N=$((JFE_N + 1))
	JFE_LOG=$BED_DIR/jfe.$JFE_N.log
	JFE_LOGS+=("$JFE_LOG")
	[[ -n $JFE_CACHE ]] || JFE_CACHE=$BED_DIR/cache
	[[ -n $JFE_SOCK ]] || JFE_SOCK=$BED_DIR/control.sock
	mkdir -p "$JFE_CACHE"
	JFE_LISTEN_PORT=1
	for a in "$@"; do
		[[ $prev == --listen-port ]] && JFE_LISTEN_PORT=$a
		[[ $a == --listen-port=* ]] && JFE_LISTEN_PORT=${a#*=}
		prev=$a
	done
	if [[ ! -x $JFE_BIN ]]; then
		bed_log "jfe_start: no executable at JFE_BIN=$JFE_BIN"
		return 1
	fi
	# The instance metadata service is looked for on loopback, where nothing answers, never
	# at its real address: tests reach nothing outside their own namespaces.
	spawn "$NS_SRV" "$JFE_LOG" "$JFE_BIN" run -c "$JFE_CACHE" --acme-directory none \
		--imds-endpoint http://127.0.0.1:9 --control-socket "$JFE_SOCK" -v "$@"
	JFE_PID=$LASTPID
	deadline_n=$(( ${JFE_START_TIMEOUT:-20} * 20 ))
	for ((i = 0; i < deadline_n; i++)); do
		if ! _alive "$JFE_PID"; then
			wait "$JFE_PID" 2>/dev/null; JFE_RC=$?
			bed_log "jfe_start: jfe exited during start-up with status $JFE_RC"
			JFE_PID=
			return 1
		fi
		if _listening "$NS_SRV" 127.0.0.1 "$JFE_LISTEN_PORT" && nft_has_jfe_table; then
			return 0
		fi
		sleep 0.05
	done
	bed_log "jfe_start: no listener on 127.0.0.1:$JFE_LISTEN_PORT with table inet jfe after ${JFE_START_TIMEOUT:-20}s"
	return 1
}

# jfe_stop [SIG=TERM] [TIMEOUT_S=10]: $JFE_RC is jfe's exit status (124 when it had to be KILLed)
jfe_stop() {
	local sig=${1:-TERM} n=$(( ${2:-10} * 20 )) i
	[[ -n $JFE_PID ]] || { JFE_RC=; return 0; }
	kill -"$sig" "$JFE_PID" 2>/dev/null
	for ((i = 0; i < n; i++)); do _alive "$JFE_PID" || break; sleep 0.05; done
	if _alive "$JFE_PID"; then
		bed_log "jfe_stop: jfe (pid $JFE_PID) still running ${2:-10}s after SIG$sig; killing it"
		kill -KILL "$JFE_PID" 2>/dev/null
		wait "$JFE_PID" 2>/dev/null
		JFE_RC=124
	else
		wait "$JFE_PID" 2>/dev/null
		JFE_RC=$?
	fi
	JFE_PID=
	[[ $JFE_RC == 0 ]]
}

jfe_status() { in_srv "$JFE_BIN" status --control-socket "$JFE_SOCK" "$@"; }

jfe_log_mark() { if [[ -f $JFE_LOG ]]; then wc -l <"$JFE_LOG"; else echo 0; fi; }
jfe_log_since() { tail -n +"$(( $1 + 1 ))" "$JFE_LOG" 2>/dev/null; }

# sanitizer reports (ASan, LSan, UBSan) in every jfe log of this run, printed; 0 when none
jfe_sanitizer_reports() {
	local f found=1
	for f in "${JFE_LOGS[@]}" "$@"; do
		[[ -f $f ]] || continue
		if grep -Eq 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak)' "$f"; then
			found=0
			echo "${f#"$BED_DIR"/}:"
			grep -E -A12 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$f" | head -40
		fi
	done
	return $found
}
