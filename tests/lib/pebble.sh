# shellcheck shell=bash disable=SC2034  # variables and helpers are for the scripts that source this
# tests/lib/pebble.sh — Pebble ACME CAs and pebble-challtestsrv for the test-bed. Source it after
# tests/lib/bed.sh, and after bed_up (everything lives under $BED_DIR and runs in $NS_ACME,
# 10.77.0.3; every request to it is sent from $NS_CLI).
#
#   pebble_certs [DIR]          the HTTPS CA (ca.pem) and a certificate for 10.77.0.3/pebble.jfe.test
#                               (cert.pem, key.pem) for Pebble's own listeners; Debian's package ships
#                               none. Sets PEBBLE_DIR (default $BED_DIR/pebble). Clients of Pebble
#                               (jfe --acme-ca-bundle, curl --cacert) trust $PEBBLE_DIR/ca.pem.
#   chall_start                 pebble-challtestsrv: DNS on 10.77.0.3:8053 ($CHALL_DNS), every name
#                               A 10.77.0.1 and no AAAA, its own challenge responders off,
#                               management API on 10.77.0.3:8055.
#   chall_add_a HOST ADDR…      challtestsrv /add-a (HOST without the trailing dot); chall_clear_a HOST
#   pebble_start NAME PORT MGMT_PORT [KEY=VALUE…] [-- JSON-MEMBER…]
#                               one Pebble: ACME on 10.77.0.3:PORT, management on MGMT_PORT, config
#                               $BED_DIR/pebble-NAME.json, log $BED_DIR/pebble-NAME.log, environment
#                               KEY=VALUE… (e.g. PEBBLE_VA_NOSLEEP=1), validating against ports 80/443
#                               and resolving through challtestsrv (or $PEBBLE_DNS, ADDR:PORT, when
#                               set: PEBBLE_DNS=10.77.0.32:53 pebble_start …). Each JSON-MEMBER (e.g.
#                               '"certificateValidityPeriod": 36') is added to the "pebble" object;
#                               a later member overrides a default. Waits (bounded) until /dir answers.
#                               Several instances may run side by side on different ports.
#                               PEBBLE_PID[NAME], PEBBLE_LOG[NAME], PEBBLE_URL[NAME] (the directory).
#   pebble_stop NAME            stop one instance (by its recorded PID)
#   pebble_root MGMT_PORT       fetches the issuing root (/roots/0, new on every Pebble start) into
#                               $BED_DIR/root-MGMT_PORT.pem and prints that path
#   pebble_issued NAME          how many certificates that Pebble has issued (its log)
#   pebble_orders NAME          how many orders that Pebble has created (its log; a newOrder refused
#                               by a badNonce or a policy is not counted)
#   served_cert NAME PORT [CAFILE] [ADDR=10.77.0.1]
#                               one TLS handshake from $NS_CLI with SNI NAME (openssl s_client,
#                               bounded by $BED_TIMEOUT); prints the served leaf as lines
#                               subject=… issuer=… serial=… verify=<code> (verify: against CAFILE,
#                               with the host name checked; "none" without CAFILE). Status 1 when
#                               no certificate came back.
#   served_issuer / served_serial NAME PORT [CAFILE] [ADDR]   one of those fields
# Environment: PEBBLE_START_TIMEOUT (s, default 15).

PEBBLE_DIR=
CHALL_PID='' CHALL_LOG=''
CHALL_DNS=$ACME4:8053
CHALL_MGMT=http://$ACME4:8055
declare -A PEBBLE_PID=() PEBBLE_LOG=() PEBBLE_URL=() PEBBLE_MGMT=()

pebble_certs() {
	local d=${1:-$BED_DIR/pebble}
	mkdir -p "$d" || return 1
	PEBBLE_DIR=$(cd "$d" && pwd)
	(
		cd "$PEBBLE_DIR" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
			-out ca.pem -days 30 -subj "/CN=jfe test-bed pebble-https CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
			-out pebble.csr -subj "/CN=pebble.jfe.test" &&
		printf '%s\n' "subjectAltName=DNS:pebble.jfe.test,DNS:localhost,IP:$ACME4,IP:127.0.0.1,IP:$ACME6" \
			'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' \
			'keyUsage=critical,digitalSignature' >ext.cnf &&
		openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
			-days 30 -extfile ext.cnf
	) >"$BED_DIR/pebble-certs.log" 2>&1 || {
		bed_log "pebble_certs: openssl failed: $(tail -3 "$BED_DIR/pebble-certs.log")"
		return 1
	}
}

# _udp_listening NS HOST PORT
_udp_listening() {
	ip netns exec "$1" ss -Hlun 2>/dev/null | awk -v h="$2" -v p="$3" '
		{ n = split($4, a, ":"); if (a[n] == p && index($4, h) == 1) found = 1 }
		END { exit !found }'
}

chall_start() {
	local i
	CHALL_LOG=$BED_DIR/challtestsrv.log
	spawn "$NS_ACME" "$CHALL_LOG" pebble-challtestsrv -defaultIPv4 "$SRV4" -defaultIPv6 "" \
		-dns01 "$CHALL_DNS" -http01 "" -https01 "" -tlsalpn01 "" -management "${CHALL_MGMT#http://}"
	CHALL_PID=$LASTPID
	wait_port "$NS_ACME" "$ACME4" 8055 "${PEBBLE_START_TIMEOUT:-15}" || return 1
	for ((i = 0; i < 100; i++)); do
		_udp_listening "$NS_ACME" "$ACME4" 8053 && return 0
		sleep 0.05
	done
	bed_log "chall_start: no DNS listener on $CHALL_DNS"
	return 1
}

_chall_post() { # PATH JSON
	curl_in "$NS_CLI" -f -o /dev/null -d "$2" "$CHALL_MGMT/$1"
}
chall_add_a() {
	local host=$1 addrs
	shift
	addrs=$(printf '"%s",' "$@")
	_chall_post add-a "{\"host\":\"$host.\",\"addresses\":[${addrs%,}]}"
}
chall_clear_a() { _chall_post clear-a "{\"host\":\"$1.\"}"; }

pebble_start() {
	local name=$1 port=$2 mgmt=$3 conf log i members='' m
	local -a envs=()
	shift 3
	while (($#)); do
		if [[ $1 == -- ]]; then shift; break; fi
		envs+=("$1")
		shift
	done
	for m in "$@"; do members+=$',\n    '"$m"; done
	[[ -n $PEBBLE_DIR ]] || { bed_log "pebble_start: run pebble_certs first"; return 1; }
	conf=$BED_DIR/pebble-$name.json
	log=$BED_DIR/pebble-$name.log
	cat >"$conf" <<-EOF
	{
	  "pebble": {
	    "listenAddress": "$ACME4:$port",
	    "managementListenAddress": "$ACME4:$mgmt",
	    "certificate": "$PEBBLE_DIR/cert.pem",
	    "privateKey": "$PEBBLE_DIR/key.pem",
	    "httpPort": 80,
	    "tlsPort": 443,
	    "ocspResponderURL": "",
	    "externalAccountBindingRequired": false,
	    "domainBlocklist": ["blocked.jfe.test"]$members
	  }
	}
	EOF
	if ! "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$conf" 2>"$BED_DIR/pebble-$name.json.err"; then
		bed_log "pebble_start $name: bad JSON config: $(tail -1 "$BED_DIR/pebble-$name.json.err")"
		return 1
	fi
	spawn "$NS_ACME" "$log" env "${envs[@]}" pebble -config "$conf" -dnsserver "${PEBBLE_DNS:-$CHALL_DNS}"
	PEBBLE_PID[$name]=$LASTPID
	PEBBLE_LOG[$name]=$log
	PEBBLE_URL[$name]=https://$ACME4:$port/dir
	PEBBLE_MGMT[$name]=$mgmt
	for ((i = 0; i < ${PEBBLE_START_TIMEOUT:-15} * 10; i++)); do
		if ! _alive "${PEBBLE_PID[$name]}"; then
			bed_log "pebble_start $name: pebble exited: $(tail -3 "$log")"
			return 1
		fi
		if _listening "$NS_ACME" "$ACME4" "$port" && _listening "$NS_ACME" "$ACME4" "$mgmt" &&
			CURL_MAX=2 curl_in "$NS_CLI" -f -o /dev/null --cacert "$PEBBLE_DIR/ca.pem" \
				"${PEBBLE_URL[$name]}" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	bed_log "pebble_start $name: ${PEBBLE_URL[$name]} did not answer in ${PEBBLE_START_TIMEOUT:-15}s"
	return 1
}

pebble_stop() {
	local p=${PEBBLE_PID[$1]:-} i
	[[ -n $p ]] || return 0
	kill -TERM "$p" 2>/dev/null
	for ((i = 0; i < 50; i++)); do _alive "$p" || break; sleep 0.1; done
	_alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	PEBBLE_PID[$1]=
	return 0
}

pebble_root() {
	local f=$BED_DIR/root-$1.pem
	curl_in "$NS_CLI" -f --cacert "$PEBBLE_DIR/ca.pem" -o "$f" "https://$ACME4:$1/roots/0" || return 1
	grep -q 'BEGIN CERTIFICATE' "$f" || return 1
	echo "$f"
}

pebble_issued() { grep -c 'Issued certificate serial' "${PEBBLE_LOG[$1]}" 2>/dev/null; }
pebble_orders() { grep -c 'Added order ' "${PEBBLE_LOG[$1]}" 2>/dev/null; }

served_cert() {
	local name=$1 port=$2 ca=${3:-} addr=${4:-$SRV4} out pem info code
	local -a va=()
	[[ $addr == *:* ]] && addr="[$addr]"
	[[ -n $ca ]] && va=(-CAfile "$ca" -verify_hostname "$name")
	out=$(in_cli openssl s_client -connect "$addr:$port" -servername "$name" "${va[@]}" </dev/null 2>&1)
	pem=$(sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' <<<"$out")
	[[ -n $pem ]] || return 1
	info=$(openssl x509 -noout -subject -issuer -serial <<<"$pem" 2>/dev/null) || return 1
	code=none
	[[ -n $ca ]] && code=$(sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' <<<"$out" | tail -n1)
	printf '%s\nverify=%s\n' "$info" "${code:-?}"
}
served_issuer() { served_cert "$@" | sed -n 's/^issuer=//p'; }
served_serial() { served_cert "$@" | sed -n 's/^serial=//p'; }
