#!/bin/bash
# tests/demo.sh — `sudo make demo`: jfe in a throw-away network-namespace test-bed.
#
# Builds a bed (namespaces unique to this run: a "server" host 10.77.0.1, a "client" host
# 10.77.0.2 and a "CA" host 10.77.0.3 running Pebble, a test ACME CA, on one bridge; nothing in
# the root namespace is touched), starts a plaintext-only HTTP service on the server, starts jfe
# there, and shows from the client:
#   (a) plain HTTP still works;  (b) the same plaintext-only port answers TLS for a name jfe has
#   never seen, with a certificate Pebble issued during that first handshake (verified, no -k);
#   (c) the service sees the real client address;  (d) `jfe status`. Then it stops everything
#   and removes the bed.
# Environment: JFE_BIN (default ./jfe).
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/lib/pebble.sh"
BED_NAME=demo
NAME=www.demo.test

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (network namespaces and nftables): sudo make demo" >&2
	exit 1
fi
if [[ ! -x $JFE_BIN ]]; then
	echo "demo: no jfe binary at $JFE_BIN (run make first)" >&2
	exit 1
fi

say() { printf '\n==> %s\n' "$*"; }
show() { printf '  [%s]$ %s\n' "$1" "$2"; }
indent() { sed 's/^/      /'; }
die() { echo "demo: $*" >&2; [[ -n $JFE_LOG && -s $JFE_LOG ]] && tail -n 20 "$JFE_LOG" | indent >&2; exit 1; }
ok=1

say "Building a test-bed: namespaces $NS_SRV (server, $SRV4 / $SRV6), $NS_CLI (client, $CLI4 / $CLI6), $NS_ACME (CA, $ACME4)"
bed_up || die "could not create the network namespaces"

say "Starting Pebble, a test ACME CA, on $ACME4 (its DNS answers every name with $SRV4)"
pebble_certs >/dev/null 2>&1 && chall_start &&
	pebble_start demo 14000 15000 PEBBLE_VA_NOSLEEP=1 -- '"retryAfter": {"authz": 1, "order": 1}' ||
	die "Pebble did not start"
ROOT=$(pebble_root 15000) || die "could not fetch Pebble's root certificate"
echo "      the client trusts Pebble's root only: $ROOT"

say "Starting a plaintext-only HTTP service on the server, $SRV4:8080 (it knows nothing about TLS)"
spawn "$NS_SRV" service.log "$PY" -u "$BED_TOOLS/backend.py" "$SRV4" 8080 "$SRV6" 8080
wait_port "$NS_SRV" "$SRV4" 8080 || die "the HTTP service did not start"
show server "python3 tests/tools/backend.py $SRV4 8080   # replies with the client address it sees"

say "Starting jfe on the server: one command, no per-service configuration"
show server "jfe run --acme-directory https://$ACME4:14000/dir --public-ip $SRV4 -v"
jfe_start --acme-directory "https://$ACME4:14000/dir" --acme-ca-bundle "$PEBBLE_DIR/ca.pem" \
	--public-ip "$SRV4" --dns-server "$CHALL_DNS" || die "jfe did not start"
echo "      jfe is running (pid $JFE_PID); it installed this nftables table in the server's namespace:"
ip netns exec "$NS_SRV" nft list tables | indent

say "(a) A plaintext client, exactly as before jfe"
show client "curl http://$SRV4:8080/"
if out=$(curl_in "$NS_CLI" "http://$SRV4:8080/" 2>&1); then echo "$out" | indent
else echo "$out" | indent; ok=0; fi

say "(b) A TLS client on the SAME port of the same plaintext-only service, for a new name"
show client "curl -v --cacert pebble-root.pem https://$NAME:8080/   # $NAME -> $SRV4; no -k"
t0=$(now)
if out=$(CURL_MAX=40 curl_in "$NS_CLI" -v --cacert "$ROOT" --resolve "$NAME:8080:$SRV4" "https://$NAME:8080/" 2>&1); then
	echo "      (the certificate was issued during this first handshake: $(elapsed "$t0") s)"
	grep -E '^\* (SSL connection using|ALPN|Server certificate:| +subject:| +issuer:| +expire date:)' <<<"$out" | sed 's/^\* *//' | indent
	echo "      --- response body ---"
	grep -v -E '^[*<>{}]' <<<"$out" | grep . | indent
else
	echo "$out" | tail -n 8 | indent; ok=0
fi
show client "openssl s_client -connect $SRV4:8080 -servername $NAME -brief   # now served at once"
out=$(in_cli openssl s_client -connect "$SRV4:8080" -servername "$NAME" -CAfile "$ROOT" -brief </dev/null 2>&1)
grep -E '^(Protocol version|Ciphersuite|Peer certificate|Verification|CONNECTION)' <<<"$out" | indent
[[ $out == *"CONNECTION ESTABLISHED"* ]] || ok=0

say "(c) The service sees the real client address ($CLI4), not the proxy's"
show client "curl -k https://[$SRV6]:8080/      # IPv6 too"
if out=$(curl_in "$NS_CLI" -k "https://[$SRV6]:8080/" 2>&1); then echo "$out" | indent
else echo "$out" | indent; ok=0; fi
if [[ $out != *"sees peer ('$CLI6'"* ]]; then ok=0; fi
echo "      jfe's log (-v: one line per connection):"
grep -E 'conn ' "$JFE_LOG" | tail -n 4 | indent

say "(d) jfe status"
show server "jfe status"
jfe_status 2>&1 | indent
[[ ${PIPESTATUS[0]} == 0 ]] || ok=0

say "Stopping jfe (SIGTERM): it removes its table and routing rules"
jfe_stop TERM 10 || { echo "      jfe exited with status $JFE_RC"; ok=0; }
printf '      nftables tables left in the server namespace: %s\n' "$(ip netns exec "$NS_SRV" nft list tables | grep -c .)"

say "Cleaning up the test-bed"
if [[ $ok == 1 ]]; then
	echo "demo finished: all steps worked"
	exit 0
fi
echo "demo finished WITH ERRORS (see above)"
exit 1
