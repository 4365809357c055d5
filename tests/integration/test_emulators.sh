#!/bin/bash
# tests/integration/test_emulators.sh — the DNS-provider emulators jfe's DNS-01 tests use,
# checked against REAL clients, one PASS/FAIL line per check. No jfe is started.
#
# In the acme namespace (10.77.0.3), beside pebble-challtestsrv (DNS :8053, management :8055):
#   tests/tools/route53_emu.py     https://10.77.0.3:8443  (Pebble's test HTTPS certificate)
#   tests/tools/cloudflare_emu.py  https://10.77.0.3:8444
# both mirroring the TXT records they are given into challtestsrv. Every client runs in the cli
# namespace: Debian's AWS CLI v2 (/usr/bin/aws, its own vendored botocore signs; the emulator
# verifies with Debian's python3-botocore), curl's own SigV4 signer (--aws-sigv4), botocore
# with a clock 10 minutes slow, curl for Cloudflare, dig for what Pebble would see.
# Sections: chall.* (the challtestsrv TXT semantics the mirror relies on), r53.*, cf.*.
# Needs: awscli python3-botocore bind9-dnsutils pebble curl (tests/deps.sh lists the rest).
# Environment: BED_KEEP=1 keeps $BED_DIR (emulator logs: r53.log, cf.log).
set -u
# shellcheck source=tests/lib/bed.sh disable=SC2034
. "$(dirname "$0")/../lib/bed.sh"
# shellcheck source=tests/lib/pebble.sh
. "$(dirname "$0")/../lib/pebble.sh"
BED_NAME=emulators
bed_require_root

AWS=/usr/bin/aws
missing=()
[[ -x $AWS ]] || missing+=(awscli)
"$PY" -c 'import botocore.auth' 2>/dev/null || missing+=(python3-botocore)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v pebble-challtestsrv >/dev/null || missing+=(pebble)
if ((${#missing[@]})); then
	echo "FAIL: emulators.deps"
	echo "  # missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})"
	exit 1
fi

AKID=AKIAJFETESTKEY000001 SECRET='jfe/Test+Secret0123456789abcdefghijklmnop'
TMP_AKID=ASIAJFETESTKEY000002 TMP_SECRET='jfe/Temp+Secret0123456789abcdefghijklmno'
TMP_TOKEN='IQoJb3JpZ2luX2VjEjfeTestSessionToken//////////wEaCXVzLWVhc3QtMSJGMEQCIFakeToken='
CF_TOKEN=jfeTestCloudflareToken0123456789abcdefghij         # all zones, DNS edit
CF_SCOPED=jfeScopedCloudflareToken0123456789abcdefgh        # other.test only
CF_RO=jfeReadOnlyCloudflareToken0123456789abcdefgh          # all zones, DNS read only
R53=https://$ACME4:8443 CF=https://$ACME4:8444/client/v4
INSYNC_DELAY=4   # long enough that a loaded machine still sees PENDING first

bed_up || { echo "FAIL: emulators.bed_up"; exit 1; }
if ! pebble_certs || ! chall_start; then echo "FAIL: emulators.challtestsrv_up"; exit 1; fi
CA=$PEBBLE_DIR/ca.pem

spawn "$NS_ACME" r53.out "$PY" -u "$BED_TOOLS/route53_emu.py" --listen "$ACME4" --port 8443 \
	--tls-cert "$PEBBLE_DIR/cert.pem" --tls-key "$PEBBLE_DIR/key.pem" --log "$BED_DIR/r53.log" \
	--challtestsrv "$CHALL_MGMT" --insync-delay "$INSYNC_DELAY" \
	--zone jfe.test,id=Z0JFETESTPUBLIC000001 --zone jfe.test,private,id=Z0JFETESTPRIVATE00002 \
	--zone other.test,id=Z0OTHERTESTPUBLIC0003 \
	--key "$AKID:$SECRET" --key "$TMP_AKID:$TMP_SECRET:$TMP_TOKEN"
spawn "$NS_ACME" cf.out "$PY" -u "$BED_TOOLS/cloudflare_emu.py" --listen "$ACME4" --port 8444 \
	--tls-cert "$PEBBLE_DIR/cert.pem" --tls-key "$PEBBLE_DIR/key.pem" --log "$BED_DIR/cf.log" \
	--challtestsrv "$CHALL_MGMT" --zone jfe.test --zone other.test \
	--token "$CF_TOKEN" --token "$CF_SCOPED=other.test" --token "$CF_RO,read"
if ! wait_port "$NS_ACME" "$ACME4" 8443 15 || ! wait_port "$NS_ACME" "$ACME4" 8444 15; then
	fail emulators.start "an emulator did not listen" r53.out cf.out
	bed_finish
fi
ZPUB=Z0JFETESTPUBLIC000001 ZPRIV=Z0JFETESTPRIVATE00002

# ------------------------------------------------------------------ helpers
# jget FILE EXPR: EXPR (Python, the JSON document is d) evaluated on FILE
jget() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# txt NAME: the TXT strings challtestsrv answers for NAME, sorted, space-separated
txt() { in_cli dig +short +norec +time=2 +tries=1 @"$ACME4" -p 8053 TXT "$1" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
# wait_txt NAME WANT [S=10]: until txt NAME is WANT
wait_txt() {
	local i
	for ((i = 0; i < ${3:-10} * 5; i++)); do [[ $(txt "$1") == "$2" ]] && return 0; sleep 0.2; done
	return 1
}
mgmt() { curl_in "$NS_CLI" -f -o /dev/null -d "$2" "$CHALL_MGMT/$1"; }
emu() { curl_in "$NS_CLI" --cacert "$CA" "$@"; }          # emu [curl args…] URL
# aws ARGS…: the AWS CLI in cli, output JSON to $BED_DIR/aws.out, errors to aws.err; its status.
# AWS_MAX_ATTEMPTS defaults to 1 here (no retries) unless the caller sets it.
aws() {
	BED_TIMEOUT=40 in_ns "$NS_CLI" env -i PATH=/usr/bin:/bin HOME="$BED_DIR/home" \
		AWS_ACCESS_KEY_ID="${A_KEY:-$AKID}" AWS_SECRET_ACCESS_KEY="${A_SECRET:-$SECRET}" \
		${A_TOKEN:+AWS_SESSION_TOKEN="$A_TOKEN"} AWS_DEFAULT_REGION=us-east-1 \
		AWS_CONFIG_FILE="$BED_DIR/home/none" AWS_SHARED_CREDENTIALS_FILE="$BED_DIR/home/none" \
		AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_RETRY_MODE=standard \
		AWS_MAX_ATTEMPTS="${A_ATTEMPTS:-1}" \
		"$AWS" --endpoint-url "$R53" --ca-bundle "$CA" --output json "$@" \
		>"$BED_DIR/aws.out" 2>"$BED_DIR/aws.err"
}
mkdir -p "$BED_DIR/home"
aerr() { tr '\n' ' ' <"$BED_DIR/aws.err" | cut -c1-400; }
# batch FILE ACTION NAME TYPE TTL VALUE…: a change batch (one change) as the CLI's JSON
batch() {
	local f=$1 act=$2 name=$3 type=$4 ttl=$5
	shift 5
	"$PY" - "$act" "$name" "$type" "$ttl" "$@" >"$BED_DIR/$f" <<-'PY'
	import json, sys
	act, name, typ, ttl = sys.argv[1:5]
	print(json.dumps({"Comment": "jfe test", "Changes": [{"Action": act, "ResourceRecordSet": {
	    "Name": name, "Type": typ, "TTL": int(ttl),
	    "ResourceRecords": [{"Value": v} for v in sys.argv[5:]]}}]}))
	PY
}
# change ZONE FILE: change-resource-record-sets; sets CHANGE_ID (without /change/)
change() {
	CHANGE_ID=
	aws route53 change-resource-record-sets --hosted-zone-id "$1" --change-batch "file://$BED_DIR/$2" || return 1
	CHANGE_ID=$(jget "$BED_DIR/aws.out" 'd["ChangeInfo"]["Id"].split("/")[-1]')
	[[ -n $CHANGE_ID ]]
}
status_of() { aws route53 get-change --id "$1" && jget "$BED_DIR/aws.out" 'd["ChangeInfo"]["Status"]'; }
# wait_insync ID [S=10]
wait_insync() {
	local i
	for ((i = 0; i < ${2:-10}; i++)); do [[ $(status_of "$1") == INSYNC ]] && return 0; sleep 1; done
	return 1
}

# ------------------------------------------------------------------ chall.*: what the mirror relies on
mgmt clear-txt '{"host":"_probe.jfe.test."}'
if mgmt set-txt '{"host":"_probe.jfe.test.","value":"one"}' &&
	mgmt set-txt '{"host":"_probe.jfe.test.","value":"two"}' && [[ $(txt _probe.jfe.test) == '"one" "two"' ]]; then
	pass chall.set_txt_appends "two set-txt at one name answer both values"
else
	fail chall.set_txt_appends "dig: '$(txt _probe.jfe.test)'" challtestsrv.log
fi
if mgmt clear-txt '{"host":"_probe.jfe.test."}' && [[ -z $(txt _probe.jfe.test) ]]; then
	pass chall.clear_txt_removes_all
else
	fail chall.clear_txt_removes_all "dig: '$(txt _probe.jfe.test)'"
fi
mgmt set-txt '{"host":"_probe.jfe.test","value":"nodot"}'
if [[ -z $(txt _probe.jfe.test) ]]; then
	pass chall.names_need_trailing_dot
else
	fail chall.names_need_trailing_dot "a host without the dot answered: '$(txt _probe.jfe.test)'"
fi

# ------------------------------------------------------------------ r53.*
if aws route53 list-hosted-zones-by-name --dns-name jfe.test &&
	[[ $(jget "$BED_DIR/aws.out" '" ".join("%s:%s" % (z["Name"], z["Config"]["PrivateZone"]) for z in d["HostedZones"])') == \
		"jfe.test.:True jfe.test.:False other.test.:False" ]] &&
	[[ $(jget "$BED_DIR/aws.out" 'd["HostedZones"][1]["Id"]') == "/hostedzone/$ZPUB" ]]; then
	# same name: by Id, so here the private zone comes first (a client must check PrivateZone)
	pass r53.cli_list_hosted_zones_by_name "sorted from jfe.test: private, public (by Id), other.test"
else
	fail r53.cli_list_hosted_zones_by_name "$(aerr) $(head -c 600 "$BED_DIR/aws.out")" r53.log
fi
# one page: the CLI's own paginator follows NextDNSName/NextHostedZoneId, so ask for the raw page
if aws route53 list-hosted-zones-by-name --dns-name jfe.test --max-items 1 --no-paginate &&
	[[ $(jget "$BED_DIR/aws.out" '"%s %s %s %d" % (d["IsTruncated"], d["NextDNSName"], d["NextHostedZoneId"], len(d["HostedZones"]))') == \
		"True jfe.test. $ZPUB 1" ]]; then
	pass r53.by_name_truncated "IsTruncated, NextDNSName, NextHostedZoneId"
else
	fail r53.by_name_truncated "$(aerr) $(head -c 600 "$BED_DIR/aws.out")" r53.log
fi
if aws route53 list-hosted-zones && [[ $(jget "$BED_DIR/aws.out" 'len(d["HostedZones"])') == 3 ]]; then
	pass r53.cli_list_hosted_zones
else
	fail r53.cli_list_hosted_zones "$(aerr)" r53.log
fi
if aws route53 get-hosted-zone --id "$ZPUB" &&
	[[ $(jget "$BED_DIR/aws.out" 'len(d["DelegationSet"]["NameServers"])') == 4 ]]; then
	pass r53.cli_get_hosted_zone
else
	fail r53.cli_get_hosted_zone "$(aerr)" r53.log
fi

# UPSERT two values (apex + wildcard share _acme-challenge.www.jfe.test)
N1=_acme-challenge.www.jfe.test
batch b1.json UPSERT "$N1" TXT 10 '"valueA-0123456789"' '"valueB-0123456789"'
if change "$ZPUB" b1.json && [[ $(jget "$BED_DIR/aws.out" 'd["ChangeInfo"]["Status"]') == PENDING ]]; then
	C1=$CHANGE_ID
	pass r53.cli_change_upsert "ChangeInfo PENDING, Id $C1"
	st=$(status_of "$C1")
	before=$(txt "$N1")
	if [[ $st == PENDING && -z $before ]] && wait_insync "$C1" 10; then
		pass r53.get_change_pending_then_insync "PENDING (not yet in DNS), then INSYNC"
	else
		fail r53.get_change_pending_then_insync "first status '$st', dns before '$before'" r53.log
	fi
	if wait_txt "$N1" '"valueA-0123456789" "valueB-0123456789"' 3; then
		pass r53.dns_mirror_after_insync "dig @$ACME4 -p 8053 TXT $N1: $(txt "$N1")"
	else
		fail r53.dns_mirror_after_insync "dig: '$(txt "$N1")'" r53.log challtestsrv.log
	fi
else
	fail r53.cli_change_upsert "$(aerr)" r53.log
	fail r53.get_change_pending_then_insync "no change"
	fail r53.dns_mirror_after_insync "no change"
fi
if aws route53 list-resource-record-sets --hosted-zone-id "$ZPUB" --start-record-name "$N1" \
	--start-record-type TXT --max-items 1 --no-paginate &&
	[[ $(jget "$BED_DIR/aws.out" '"%s %s %d" % (d["ResourceRecordSets"][0]["Name"], d["ResourceRecordSets"][0]["TTL"], len(d["ResourceRecordSets"][0]["ResourceRecords"]))') == \
		"$N1. 10 2" ]]; then
	pass r53.cli_list_rrsets_from_name
else
	fail r53.cli_list_rrsets_from_name "$(aerr) $(head -c 600 "$BED_DIR/aws.out")" r53.log
fi
# a wildcard name comes back as \052
batch bw.json CREATE '*.wild.jfe.test' A 60 10.77.0.1
if change "$ZPUB" bw.json && aws route53 list-resource-record-sets --hosted-zone-id "$ZPUB" &&
	grep -q '"\\\\052.wild.jfe.test."' "$BED_DIR/aws.out"; then
	pass r53.wildcard_as_052
else
	fail r53.wildcard_as_052 "$(aerr) $(grep -o '"[^"]*wild[^"]*"' "$BED_DIR/aws.out")" r53.log
fi

# CREATE of an existing set, in a batch with a valid change: nothing of the batch is applied
"$PY" - "$N1" >"$BED_DIR/b2.json" <<-'PY'
import json, sys
rr = lambda n, v: {"Name": n, "Type": "TXT", "TTL": 10, "ResourceRecords": [{"Value": v}]}
print(json.dumps({"Changes": [
    {"Action": "UPSERT", "ResourceRecordSet": rr("_acme-challenge.tx.jfe.test", '"tx"')},
    {"Action": "CREATE", "ResourceRecordSet": rr(sys.argv[1], '"other"')}]}))
PY
if ! change "$ZPUB" b2.json && grep -q 'InvalidChangeBatch' "$BED_DIR/aws.err" &&
	grep -q "Tried to create resource record set \[name='$N1.', type='TXT'\] but it already exists" "$BED_DIR/aws.err" &&
	aws route53 list-resource-record-sets --hosted-zone-id "$ZPUB" --start-record-name _acme-challenge.tx.jfe.test \
		--start-record-type TXT --max-items 1 --no-paginate &&
	[[ $(jget "$BED_DIR/aws.out" 'd["ResourceRecordSets"][0]["Name"]') != _acme-challenge.tx.jfe.test. ]]; then
	pass r53.create_existing_rejects_whole_batch "$(aerr | cut -c1-160)"
else
	fail r53.create_existing_rejects_whole_batch "$(aerr)" r53.log
fi
batch b3.json DELETE "$N1" TXT 300 '"valueA-0123456789"' '"valueB-0123456789"'
if ! change "$ZPUB" b3.json && grep -q 'but the values provided do not match the current values' "$BED_DIR/aws.err"; then
	pass r53.delete_must_match_ttl "$(aerr | cut -c1-160)"
else
	fail r53.delete_must_match_ttl "$(aerr)" r53.log
fi
batch b4.json DELETE "$N1" TXT 10 '"valueA-0123456789"'
if ! change "$ZPUB" b4.json && grep -q 'do not match the current values' "$BED_DIR/aws.err"; then
	pass r53.delete_must_match_all_values
else
	fail r53.delete_must_match_all_values "$(aerr)" r53.log
fi
batch b5.json UPSERT _acme-challenge.q.jfe.test TXT 10 'unquoted-value'
if ! change "$ZPUB" b5.json && grep -q 'Value should be enclosed in quotation marks' "$BED_DIR/aws.err"; then
	pass r53.txt_must_be_quoted "$(aerr | cut -c1-160)"
else
	fail r53.txt_must_be_quoted "$(aerr)" r53.log
fi
long=$(printf 'x%.0s' $(seq 256))
batch b6.json UPSERT _acme-challenge.q.jfe.test TXT 10 "\"$long\""
if ! change "$ZPUB" b6.json && grep -q 'CharacterStringTooLong' "$BED_DIR/aws.err"; then
	pass r53.txt_string_max_255
else
	fail r53.txt_string_max_255 "$(aerr)" r53.log
fi
batch b7.json UPSERT _acme-challenge.www.other.test TXT 10 '"x"'
if ! change "$ZPUB" b7.json && grep -q 'is not permitted in zone jfe.test.' "$BED_DIR/aws.err"; then
	pass r53.name_outside_zone
else
	fail r53.name_outside_zone "$(aerr)" r53.log
fi
# exact DELETE: INSYNC, and the name is gone from the DNS
batch b8.json DELETE "$N1" TXT 10 '"valueB-0123456789"' '"valueA-0123456789"'
if change "$ZPUB" b8.json && wait_insync "$CHANGE_ID" 10 && wait_txt "$N1" '' 3; then
	pass r53.delete_exact_clears_dns
else
	fail r53.delete_exact_clears_dns "$(aerr) dig '$(txt "$N1")'" r53.log
fi
# a private zone is not what a public CA sees
batch b9.json UPSERT _acme-challenge.priv.jfe.test TXT 10 '"private"'
if change "$ZPRIV" b9.json && wait_insync "$CHANGE_ID" 10 && sleep 0.3 && [[ -z $(txt _acme-challenge.priv.jfe.test) ]]; then
	pass r53.private_zone_not_in_public_dns
else
	fail r53.private_zone_not_in_public_dns "$(aerr) dig '$(txt _acme-challenge.priv.jfe.test)'" r53.log
fi

# signatures
if A_SECRET="${SECRET}x" aws route53 list-hosted-zones; then
	fail r53.wrong_secret_refused "the CLI succeeded with a wrong secret"
elif grep -q 'SignatureDoesNotMatch' "$BED_DIR/aws.err"; then
	pass r53.wrong_secret_refused "$(aerr | cut -c1-120)"
else
	fail r53.wrong_secret_refused "$(aerr)" r53.log
fi
if ! A_KEY=AKIAJFEUNKNOWN000009 aws route53 list-hosted-zones && grep -q 'InvalidClientTokenId' "$BED_DIR/aws.err"; then
	pass r53.unknown_key_refused
else
	fail r53.unknown_key_refused "$(aerr)" r53.log
fi
if A_KEY=$TMP_AKID A_SECRET=$TMP_SECRET A_TOKEN=$TMP_TOKEN aws route53 list-hosted-zones; then
	pass r53.session_token_accepted "ASIA key + X-Amz-Security-Token"
else
	fail r53.session_token_accepted "$(aerr)" r53.log
fi
if ! A_KEY=$TMP_AKID A_SECRET=$TMP_SECRET aws route53 list-hosted-zones && grep -q 'InvalidClientTokenId' "$BED_DIR/aws.err"; then
	pass r53.session_token_required
else
	fail r53.session_token_required "$(aerr)" r53.log
fi
# curl's own SigV4 (libcurl, as jfe may use to cross-check its signer)
out=$(emu -w ' %{http_code}' --aws-sigv4 'aws:amz:us-east-1:route53' --user "$AKID:$SECRET" \
	"$R53/2013-04-01/hostedzonesbyname?dnsname=other.test&maxitems=1" 2>&1)
if [[ $out == *"<Name>other.test.</Name>"*" 200" ]]; then
	pass r53.curl_sigv4_accepted
else
	fail r53.curl_sigv4_accepted "$out" r53.log
fi
out=$(emu -w ' %{http_code}' "$R53/2013-04-01/hostedzone" 2>&1)
if [[ $out == *"<Code>MissingAuthenticationToken</Code>"*" 403" && $out == *"<ErrorResponse xmlns="* ]]; then
	pass r53.unsigned_refused
else
	fail r53.unsigned_refused "$out"
fi
# botocore signing with a clock 10 minutes slow
cat >"$BED_DIR/skew.py" <<-'PY'
import datetime, ssl, sys, urllib.error, urllib.request
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
class Slow(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() - datetime.timedelta(minutes=10)
botocore.auth.datetime = type("m", (), {"datetime": Slow})
url, akid, secret, ca = sys.argv[1:5]
req = AWSRequest(method="GET", url=url)
botocore.auth.SigV4Auth(Credentials(akid, secret), "route53", "us-east-1").add_auth(req)
r = urllib.request.Request(url, headers=dict(req.headers.items()))
try:
    urllib.request.urlopen(r, context=ssl.create_default_context(cafile=ca), timeout=5)
    print("200")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
PY
out=$(in_cli "$PY" "$BED_DIR/skew.py" "$R53/2013-04-01/hostedzone" "$AKID" "$SECRET" "$CA" 2>&1)
if [[ $out == "403 "*"<Code>SignatureDoesNotMatch</Code>"*"Signature expired:"* ]]; then
	pass r53.clock_skew_refused "$(grep -o 'Signature expired:[^<]*' <<<"$out")"
else
	fail r53.clock_skew_refused "$out" r53.log
fi

# credentials added at run time (rotation), and expired ones
exp=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
emu -o /dev/null -d "{\"access_key_id\":\"ASIAJFEROTATED000003\",\"secret_access_key\":\"rot\",\"session_token\":\"tok3\",\"expiration\":\"$exp\"}" \
	"$R53/_emu/credentials"
if ! A_KEY=ASIAJFEROTATED000003 A_SECRET=rot A_TOKEN=tok3 aws route53 list-hosted-zones &&
	grep -q 'ExpiredToken' "$BED_DIR/aws.err"; then
	pass r53.expired_credentials_refused "$(aerr | cut -c1-120)"
else
	fail r53.expired_credentials_refused "$(aerr)" r53.log
fi
# an injected error limited to one operation: other calls pass, the change gets it
emu -o /dev/null -d '{"n":1,"code":"PriorRequestNotComplete","message":"The request was rejected because Route 53 was still processing a prior request.","ops":["ChangeResourceRecordSets"]}' \
	"$R53/_emu/fail"
batch b11.json UPSERT _acme-challenge.prior.jfe.test TXT 10 '"p"'
if aws route53 list-hosted-zones && ! change "$ZPUB" b11.json && grep -q 'PriorRequestNotComplete' "$BED_DIR/aws.err" &&
	change "$ZPUB" b11.json; then
	pass r53.injected_prior_request_not_complete "list passes, the next change fails once, then passes"
else
	fail r53.injected_prior_request_not_complete "$(aerr)" r53.log
fi

# throttling: with no retries the CLI shows it; with retries botocore treats it as throttling
emu -o /dev/null -d '{"n":1}' "$R53/_emu/throttle"
if ! aws route53 list-hosted-zones && grep -q 'Throttling' "$BED_DIR/aws.err" && grep -q 'Rate exceeded' "$BED_DIR/aws.err"; then
	pass r53.throttling_seen "$(aerr | cut -c1-120)"
else
	fail r53.throttling_seen "$(aerr)" r53.log
fi
mark=$(emu "$R53/_emu/requests?since=0" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["next"])')
emu -o /dev/null -d '{"n":2}' "$R53/_emu/throttle"
if A_ATTEMPTS=3 aws route53 list-hosted-zones &&
	[[ $(emu "$R53/_emu/requests?since=$mark" | "$PY" -c 'import json,sys; print(" ".join(str(r["status"]) for r in json.load(sys.stdin)["requests"]))') == "400 400 200" ]]; then
	pass r53.throttling_retried_by_cli "AWS_MAX_ATTEMPTS=3: 400 Throttling, 400 Throttling, 200"
else
	fail r53.throttling_retried_by_cli "$(aerr)" r53.log
fi

# stuck: a change that never reaches INSYNC (and never reaches the DNS)
N2=_acme-challenge.stuck.jfe.test
emu -o /dev/null -d '{"on":true}' "$R53/_emu/stuck"
batch b10.json UPSERT "$N2" TXT 10 '"stuck-value"'
if change "$ZPUB" b10.json; then
	C2=$CHANGE_ID
	sleep $((INSYNC_DELAY + 2))
	st=$(status_of "$C2")
	if [[ $st == PENDING && -z $(txt "$N2") ]]; then
		pass r53.stuck_stays_pending "PENDING after $((INSYNC_DELAY + 2))s, not in DNS"
	else
		fail r53.stuck_stays_pending "status '$st' dig '$(txt "$N2")'" r53.log
	fi
	emu -o /dev/null -d '{"on":false}' "$R53/_emu/stuck"
	if wait_insync "$C2" 10 && wait_txt "$N2" '"stuck-value"' 3; then
		pass r53.unstuck_goes_insync
	else
		fail r53.unstuck_goes_insync "dig '$(txt "$N2")'" r53.log
	fi
else
	fail r53.stuck_stays_pending "$(aerr)" r53.log
	fail r53.unstuck_goes_insync "no change"
fi
emu -o /dev/null -d '{"on":false}' "$R53/_emu/stuck"

# the other InvalidChangeBatch shape (its own root), for clients that must parse both
emu -o /dev/null -d '{"invalid_change_batch":"root"}' "$R53/_emu/config"
out=$(emu -w ' %{http_code}' -H 'Content-Type: text/xml' --aws-sigv4 'aws:amz:us-east-1:route53' \
	--user "$AKID:$SECRET" --data-binary @- "$R53/2013-04-01/hostedzone/$ZPUB/rrset" 2>&1 <<-EOF
<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>_acme-challenge.none.jfe.test.</Name><Type>TXT</Type><TTL>10</TTL><ResourceRecords><ResourceRecord><Value>"v"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>
EOF
)
emu -o /dev/null -d '{"invalid_change_batch":"error"}' "$R53/_emu/config"
if [[ $out == *"<InvalidChangeBatch xmlns="*"<Messages><Message>Tried to delete resource record set [name='_acme-challenge.none.jfe.test.', type='TXT'] but it was not found</Message></Messages>"*" 400" ]]; then
	pass r53.invalid_change_batch_root_shape "curl-signed POST, XML body"
else
	fail r53.invalid_change_batch_root_shape "$out" r53.log
fi

# ------------------------------------------------------------------ cf.*
N3=_acme-challenge.www.jfe.test
cf() { emu -H "Authorization: Bearer $CF_TOKEN" -H 'Content-Type: application/json' "$@"; }
cfj() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
zone_out=$(cf "$CF/zones?name=jfe.test&status=active" 2>&1)
CFZ=$(cfj 'd["result"][0]["id"]' <<<"$zone_out")
if [[ $(cfj '"%s %s %s %s %d" % (d["success"], d["errors"], d["result"][0]["name"], d["result"][0]["status"], d["result_info"]["count"])' <<<"$zone_out") == \
	"True [] jfe.test active 1" && $CFZ =~ ^[0-9a-f]{32}$ ]]; then
	pass cf.list_zones_by_name "id $CFZ"
else
	fail cf.list_zones_by_name "$zone_out" cf.log
fi
out=$(cf -d "{\"type\":\"TXT\",\"name\":\"$N3\",\"content\":\"\\\"cf-apex-value\\\"\",\"ttl\":120}" "$CF/zones/$CFZ/dns_records" 2>&1)
RID1=$(cfj 'd["result"]["id"] if d["success"] else ""' <<<"$out")
if [[ $RID1 =~ ^[0-9a-f]{32}$ && $(cfj '"%s %s" % (d["result"]["name"], d["result"]["ttl"])' <<<"$out") == "$N3 120" ]]; then
	pass cf.create_txt "record $RID1"
else
	fail cf.create_txt "$out" cf.log
fi
out=$(cf -w ' %{http_code}' -d "{\"type\":\"TXT\",\"name\":\"$N3\",\"content\":\"\\\"cf-apex-value\\\"\",\"ttl\":120}" "$CF/zones/$CFZ/dns_records" 2>&1)
if [[ $out == *'"success": false'*'"code": 81058, "message": "An identical record already exists."'*" 400" ]]; then
	pass cf.duplicate_81058
else
	fail cf.duplicate_81058 "$out" cf.log
fi
out=$(cf -d "{\"type\":\"TXT\",\"name\":\"$N3\",\"content\":\"\\\"cf-wild-value\\\"\",\"ttl\":120}" "$CF/zones/$CFZ/dns_records" 2>&1)
RID2=$(cfj 'd["result"]["id"] if d["success"] else ""' <<<"$out")
if [[ $RID2 =~ ^[0-9a-f]{32}$ ]]; then pass cf.second_value_same_name; else fail cf.second_value_same_name "$out" cf.log; fi
out=$(cf "$CF/zones/$CFZ/dns_records?type=TXT&name=$N3" 2>&1)
if [[ $(cfj '" ".join(sorted(r["id"] for r in d["result"])) + " %d" % d["result_info"]["total_count"]' <<<"$out") == \
	"$(printf '%s\n' "$RID1" "$RID2" | sort | tr '\n' ' ')2" ]]; then
	pass cf.list_txt_by_name
else
	fail cf.list_txt_by_name "$out" cf.log
fi
if wait_txt "$N3" '"cf-apex-value" "cf-wild-value"' 5; then
	pass cf.dns_mirror "dig: $(txt "$N3")"
else
	fail cf.dns_mirror "dig '$(txt "$N3")'" cf.log challtestsrv.log
fi
out=$(cf -X DELETE "$CF/zones/$CFZ/dns_records/$RID1" 2>&1)
if [[ $(cfj '"%s %s" % (d["success"], d["result"]["id"])' <<<"$out") == "True $RID1" ]] && wait_txt "$N3" '"cf-wild-value"' 5; then
	pass cf.delete_one_value "DNS keeps the other"
else
	fail cf.delete_one_value "$out dig '$(txt "$N3")'" cf.log
fi
out=$(cf -w ' %{http_code}' -X DELETE "$CF/zones/$CFZ/dns_records/$RID1" 2>&1)
if [[ $out == *'"code": 81044'*" 404" ]]; then pass cf.delete_again_81044; else fail cf.delete_again_81044 "$out"; fi
cf -o /dev/null -X DELETE "$CF/zones/$CFZ/dns_records/$RID2"
if wait_txt "$N3" '' 5; then pass cf.delete_last_clears_dns; else fail cf.delete_last_clears_dns "dig '$(txt "$N3")'"; fi
# propagation delay: the API answers at once, the DNS follows later
emu -o /dev/null -d '{"propagation_delay":2}' "https://$ACME4:8444/_emu/config"
out=$(cf -d '{"type":"TXT","name":"_acme-challenge.slow","content":"\"slow-value\"","ttl":60}' "$CF/zones/$CFZ/dns_records" 2>&1)
early=$(txt _acme-challenge.slow.jfe.test)
if [[ $out == *'"success": true'* && -z $early ]] && wait_txt _acme-challenge.slow.jfe.test '"slow-value"' 6; then
	pass cf.propagation_delay "relative name taken in the zone; not in DNS at once, then there"
else
	fail cf.propagation_delay "$out early='$early' dig '$(txt _acme-challenge.slow.jfe.test)'" cf.log
fi
emu -o /dev/null -d '{"propagation_delay":0}' "https://$ACME4:8444/_emu/config"

# tokens
out=$(emu -w ' %{http_code}' -H "Authorization: Bearer ${CF_TOKEN%?}Z" "$CF/zones?name=jfe.test" 2>&1)
if [[ $out == '{"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null} 403' ]]; then
	pass cf.wrong_token_refused "403 code 10000"
else
	fail cf.wrong_token_refused "$out"
fi
out=$(emu -w ' %{http_code}' "$CF/zones?name=jfe.test" 2>&1)
if [[ $out == *'"code": 9106'*" 400" ]]; then pass cf.no_token_refused "400 code 9106"; else fail cf.no_token_refused "$out"; fi
out=$(emu -w ' %{http_code}' -H "Authorization: Bearer short" "$CF/zones" 2>&1)
if [[ $out == *'"code": 6003'*'"error_chain": [{"code": 6111'*" 400" ]]; then
	pass cf.malformed_token_refused "400 6003/6111"
else
	fail cf.malformed_token_refused "$out"
fi
out=$(emu -H "Authorization: Bearer $CF_SCOPED" "$CF/zones?name=jfe.test" 2>&1)
out2=$(emu -w ' %{http_code}' -H "Authorization: Bearer $CF_SCOPED" -d '{"type":"TXT","name":"x","content":"\"y\""}' \
	"$CF/zones/$CFZ/dns_records" 2>&1)
if [[ $(cfj '"%s %s" % (d["success"], d["result"])' <<<"$out") == "True []" && $out2 == *'"code": 9109'*" 403" ]]; then
	pass cf.scoped_token_other_zone_refused "zone invisible, write 403 9109"
else
	fail cf.scoped_token_other_zone_refused "$out | $out2"
fi
out=$(emu -w ' %{http_code}' -H "Authorization: Bearer $CF_RO" -d '{"type":"TXT","name":"x","content":"\"y\""}' \
	"$CF/zones/$CFZ/dns_records" 2>&1)
if [[ $out == *'"code": 10000'*" 403" ]]; then pass cf.read_only_token_cannot_write; else fail cf.read_only_token_cannot_write "$out"; fi
emu -o /dev/null -d '{"n":1,"retry_after":7}' "https://$ACME4:8444/_emu/ratelimit"
out=$(cf -i "$CF/zones?name=jfe.test" 2>&1 | tr -d '\r')
out2=$(cf -w ' %{http_code}' -o /dev/null "$CF/zones?name=jfe.test" 2>&1)
if [[ $out == "HTTP/1.1 429"* && $out == *"Retry-After: 7"* && $out == *'"code": 971'* && $out2 == " 200" ]]; then
	pass cf.rate_limited_429 "then the next request passes"
else
	fail cf.rate_limited_429 "$out | $out2"
fi

bed_finish
