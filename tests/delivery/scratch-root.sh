#!/bin/bash
# shellcheck disable=SC2015,SC2016,SC2181,SC2143  # pass/fail always succeed; dpkg-query formats are literal
# tests/delivery/scratch-root.sh DEB — install the package into a disposable copy of this host
# and run it there the way its systemd unit would, without systemd.
#
# Run as root, inside private mount and network namespaces (it refuses otherwise):
#   unshare --mount --net --propagation private tests/delivery/scratch-root.sh build/jfe_*.deb
# The copy is an overlay whose lower layer is the host's / (read-only) and whose upper layer
# is a tmpfs: dpkg, adduser and the maintainer scripts run for real (chrooted), every write
# lands in the tmpfs, and the host's files, users and dpkg database are never touched. The
# private network namespace has only loopback, so nothing can leave the machine, and jfe's
# nftables table and routes live and die there. The mounts go away with the namespace.
#
# Steps: dpkg -i (twice: first install, then the upgrade path) → files, user, modes,
# conffile, statoverride → the upgrade from a package that ran jfe as root (its state handed
# to jfe) → jfe version / run --help / rules -f the shipped options file →
# `jfe run` as the unit runs it (ExecStart='s arguments, --user jfe; root with the unit's
# capability bounding set, group jfe, no new privileges, UMask 0077, NOTIFY_SOCKET and
# WATCHDOG_USEC from a stand-in for systemd): READY=1, STATUS=, every thread the user jfe
# with CAP_NET_ADMIN alone, WATCHDOG=1, the nftables table, plain and TLS connections from a client
# namespace proxied to a plain service that sees the client's address, the control socket
# (root:jfe 0660) answering `jfe status` for root and for a member of the jfe group but not
# for others, SIGHUP reload, SIGTERM → STOPPING=1, exit 0, table and policy route removed
# (CAP_NET_ADMIN kept), the state all jfe's; under strace (when
# installed) every system call jfe made is checked against the unit's SystemCallFilter= →
# systemd-analyze verify of the unit in the copy → dpkg -r keeps the options file and the
# state → dpkg --purge removes everything but the jfe user and group (Debian policy), checked
# by listing the overlay's upper layer.
set -u
# shellcheck source=tests/delivery/lib.sh
. "$(dirname "$0")/lib.sh"
DL_PREFIX=delivery.scratch

DEB=$(realpath "${1:?usage: scratch-root.sh DEB}")
scratch_up || exit 1
JPID='' DPID='' SINK='' CLI='' BACKEND=''
scratch_kill() {
	[[ -n $JPID ]] && kill -KILL "$JPID" 2>/dev/null
	[[ -n ${DPID:-} ]] && kill -KILL "$DPID" 2>/dev/null
	local p
	for p in "$SINK" "$BACKEND" "$CLI"; do [[ -n $p ]] && kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
SCRATCH_PRE_DOWN=scratch_kill
cp "$DEB" "$M/tmp/jfe.deb"
cp "$DL_REPO/packaging/jfe.service" "$M/tmp/jfe.service"

# anything already in an upper layer before the install is not the package's
# (dpkg has not run yet; this is the empty baseline plus the scaffolding above)
baseline=$(upper_list)

# ---------------------------------------------------------------- install
out=$(R dpkg -i /tmp/jfe.deb 2>&1)
rc=$?
if [[ $rc == 0 && $(R dpkg-query -W -f='${db:Status-Abbrev}' jfe 2>/dev/null) == "ii " ]]; then
	pass install "dpkg -i: installed"
else
	fail install "rc=$rc $out"
	exit 1
fi
[[ -z $(grep -iE 'warning|error' <<<"$out") ]] && pass install_quiet ||
	fail install_quiet "$out"

# the account: a system user and group, no login, home = the state directory
IFS=: read -r _ _ uid gid _ home shell <<<"$(R getent passwd jfe)"
jgid=$(R getent group jfe | cut -d: -f3)
if [[ -n ${uid:-} && $uid -lt 1000 && $gid == "$jgid" && $home == /var/lib/jfe &&
	$shell == /usr/sbin/nologin ]]; then
	pass system_user "jfe uid $uid gid $gid home $home shell $shell"
else
	fail system_user "$(R getent passwd jfe) / $(R getent group jfe)"
fi

st() { R stat -c '%a %U:%G %F' "$1" 2>&1; }
check_stat() { # NAME PATH EXPECTED
	local got
	got=$(st "$2")
	if [[ $got == "$3" ]]; then pass "$1" "$2: $got"; else fail "$1" "$2: got '$got', want '$3'"; fi
}
check_stat state_dir /var/lib/jfe "700 jfe:jfe directory"
check_stat etc_dir /etc/jfe "755 root:root directory"
check_stat conffile_mode /etc/jfe/jfe.conf "640 root:jfe regular file"
check_stat binary /usr/sbin/jfe "755 root:root regular file"
check_stat unit_file /lib/systemd/system/jfe.service "644 root:root regular file"
if [[ $(R dpkg-query -W -f='${Conffiles}' jfe) == *"/etc/jfe/jfe.conf "* ]]; then
	pass conffile "/etc/jfe/jfe.conf is a conffile"
else
	fail conffile "$(R dpkg-query -W -f='${Conffiles}' jfe)"
fi
want_pem=$(cd "$DL_REPO" && LC_ALL=C cat data/aws/*.pem | sha256sum)
got_pem=$(sha256sum <"$M/usr/share/jfe/aws-rsa2048.pem")
n_pem=$(grep -c 'BEGIN CERTIFICATE' "$M/usr/share/jfe/aws-rsa2048.pem")
[[ $want_pem == "$got_pem" && $n_pem -ge 1 ]] && pass aws_certs "$n_pem certificates = data/aws/*.pem" ||
	fail aws_certs "$n_pem certificates; not the concatenation of data/aws/*.pem"

# second dpkg -i: the upgrade path (postinst configure <old-version>), idempotent
out=$(R dpkg -i /tmp/jfe.deb 2>&1)
rc=$?
n_over=$(R dpkg-statoverride --list | grep -c ' /etc/jfe/jfe.conf$')
if [[ $rc == 0 && $n_over == 1 && $(st /var/lib/jfe) == "700 jfe:jfe directory" ]]; then
	pass reinstall "second dpkg -i (upgrade path) is idempotent"
else
	fail reinstall "rc=$rc overrides=$n_over $out"
fi
# the upgrade from a package that ran jfe as root: its state (root's, with a key and a link)
# is handed to jfe, links themselves, never what they point to
chown -R 0:"$jgid" "$M/var/lib/jfe"
mkdir -p "$M/var/lib/jfe/certs/old.example/v-1"
(umask 077; echo key >"$M/var/lib/jfe/certs/old.example/v-1/key.pem")
ln -s v-1 "$M/var/lib/jfe/certs/old.example/current"
ln -s /etc/jfe/jfe.conf "$M/var/lib/jfe/certs/link-out"
out=$(R dpkg -i /tmp/jfe.deb 2>&1)
rc=$?
notjfe=$(find "$M/var/lib/jfe" ! -uid "$uid" -printf '%p ' 2>&1)
if [[ $rc == 0 && -z $notjfe && $(st /var/lib/jfe) == "700 jfe:jfe directory" &&
	$(st /var/lib/jfe/certs/old.example/v-1/key.pem) == "600 jfe:jfe regular file" &&
	$(st /etc/jfe/jfe.conf) == "640 root:jfe regular file" ]]; then
	pass upgrade_from_root "root's state handed to jfe (key 0600 kept), link targets untouched"
else
	fail upgrade_from_root "rc=$rc not jfe's: $notjfe; $(st /var/lib/jfe/certs/old.example/v-1/key.pem); $out"
fi
rm -rf "$M/var/lib/jfe/certs/old.example" "$M/var/lib/jfe/certs/link-out"

# ---------------------------------------------------------------- the installed binary
v=$(R /usr/sbin/jfe version 2>&1)
want_v=$(dpkg-deb -f "$DEB" Version)
[[ $v == "jfe ${want_v%-*}" ]] && pass version "$v" || fail version "got '$v', package $want_v"
help=$(R /usr/sbin/jfe run --help 2>&1)
rc=$?
names=$(awk -v mode=names -f "$DL_REPO/packaging/man/options.awk" <<<"$help")
if [[ $rc == 0 && $(wc -l <<<"$names") -ge 40 ]]; then
	pass run_help "$(wc -l <<<"$names") options"
else
	fail run_help "rc=$rc $help"
fi
# every option in jfe(8), in jfe.conf(5) and, but --config, in the options file
man8=$(zcat "$M/usr/share/man/man8/jfe.8.gz") man5=$(zcat "$M/usr/share/man/man5/jfe.conf.5.gz")
conf=$(cat "$M/etc/jfe/jfe.conf")
missing=()
while read -r n; do
	e=${n//-/\\-}
	[[ $man8 == *"\\fB\\-\\-$e\\fR"* ]] || missing+=("jfe.8:--$n")
	[[ $n == config ]] && continue
	[[ $man5 == *"\\fB$e\\fR"* ]] || missing+=("jfe.conf.5:$n")
	grep -q "^#$n\( \|$\)" <<<"$conf" || missing+=("jfe.conf:$n")
done <<<"$names"
((${#missing[@]} == 0)) && pass options_documented "every option of jfe run --help is in jfe(8), jfe.conf(5) and /etc/jfe/jfe.conf" ||
	fail options_documented "missing: ${missing[*]}"
out=$(R /usr/sbin/jfe rules -f /etc/jfe/jfe.conf 2>&1 >/dev/null)
[[ $? == 0 ]] && pass shipped_conf_valid "jfe rules -f /etc/jfe/jfe.conf" || fail shipped_conf_valid "$out"
# uncomment every default that is a value (not a placeholder): still valid
sed -n 's/^#\([a-z][a-z0-9-]* [^A-Z].*\)$/\1/p' "$M/etc/jfe/jfe.conf" >"$M/tmp/defaults.conf"
out=$(R /usr/sbin/jfe rules -f /tmp/defaults.conf 2>&1 >/dev/null)
[[ $? == 0 ]] && pass conf_defaults_valid "$(wc -l <"$M/tmp/defaults.conf") commented defaults, uncommented, are accepted" ||
	fail conf_defaults_valid "$out"

# ---------------------------------------------------------------- run it as the unit does
# A client in a namespace of its own, on a veth pair: its connections arrive through
# PREROUTING, where jfe intercepts them. A plain HTTP service on the "host" side.
unshare --net sleep 600 &
CLI=$!
BACKEND=''
ip link add jfe-h type veth peer name jfe-c && ip link set jfe-c netns "$CLI" &&
	ip addr add 10.98.0.1/24 dev jfe-h && ip link set jfe-h up &&
	nsenter -t "$CLI" -n sh -c 'ip addr add 10.98.0.2/24 dev jfe-c && ip link set jfe-c up && ip link set lo up' ||
	fail setup_client "veth pair to the client namespace"
"$DL_PY" -m http.server --bind 10.98.0.1 8080 >"$T/backend.log" 2>&1 &
BACKEND=$!
"$DL_PY" "$DL_REPO/tests/delivery/notify_sink.py" "$M/run/notify.sock" "$T/notify.log" &
SINK=$!
for ((i = 0; i < 50; i++)); do [[ -S $M/run/notify.sock ]] && break; sleep 0.05; done
# ExecStart='s arguments, CapabilityBoundingSet=, Group=jfe, NoNewPrivileges=yes, UMask=0077 of
# packaging/jfe.service; RuntimeDirectory=jfe with RuntimeDirectoryMode=0750 (owner root,
# group jfe)
install -d -m 0750 -o root -g "$jgid" "$M/run/jfe"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DL_REPO/packaging/jfe.service" | tr 'A-Z ' 'a-z\n' |
	sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd,)
read -ra exec_args <<<"$(sed -n 's|^ExecStart=/usr/sbin/jfe run||p' "$DL_REPO/packaging/jfe.service")"
# under strace when there is one: the system calls are then checked against SystemCallFilter=
TRACE=()
command -v strace >/dev/null && TRACE=(strace -f -qq -o "$T/trace")
(umask 0077; exec "${TRACE[@]}" chroot "$M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	NOTIFY_SOCKET=/run/notify.sock WATCHDOG_USEC=1000000 setpriv --bounding-set="-all,$caps" \
	--inh-caps=-all --regid=jfe --clear-groups --no-new-privs /usr/sbin/jfe run "${exec_args[@]}" \
	--acme-directory none --imds-endpoint http://127.0.0.1:9 --public-ip 10.98.0.1 -v) >"$T/jfe.log" 2>&1 &
JPID=$!   # jfe, or strace, which exits with jfe's status
note() { cat "$T/notify.log" 2>/dev/null; }
for ((i = 0; i < 300; i++)); do
	[[ $(note) == *READY=1* ]] && break
	kill -0 "$JPID" 2>/dev/null || break
	sleep 0.05
done
if [[ $(note) == *READY=1*STATUS=* ]]; then
	pass unit_ready "capabilities {$caps}, group jfe, no new privileges: $(grep -m1 READY "$T/notify.log")"
else
	fail unit_ready "no READY=1 from jfe; notifications: $(note); log: $(tail -n 20 "$T/jfe.log")"
	exit 1
fi
DPID=$(R /usr/sbin/jfe status --json 2>/dev/null | "$DL_PY" -c 'import json, sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
[[ $DPID =~ ^[0-9]+$ ]] || DPID=$JPID
nft list table inet jfe >/dev/null 2>&1 && pass rules_installed "table inet jfe (private netns)" ||
	fail rules_installed "$(nft list tables 2>&1)"
# every thread: the user jfe for good, CAP_NET_ADMIN (bit 12) alone, no new privileges
bad=() n=0
for s in /proc/"$DPID"/task/*/status; do
	n=$((n + 1))
	got=$(awk '/^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):/ { $1 = $1; printf "%s;", $0 }' "$s")
	want="Uid: $uid $uid $uid $uid;Gid: $jgid $jgid $jgid $jgid;CapInh: 0000000000000000;CapPrm: 0000000000001000;CapEff: 0000000000001000;CapBnd: 0000000000001000;CapAmb: 0000000000000000;NoNewPrivs: 1;"
	[[ $got == "$want" ]] || bad+=("$s: $got")
done
((n >= 2 && ${#bad[@]} == 0)) && pass unit_dropped "$n threads, each uid $uid (jfe), CapEff=CapPrm=CapBnd=0x1000 (CAP_NET_ADMIN), NoNewPrivs" ||
	fail unit_dropped "$n threads; $(printf '%s\n' "${bad[@]}")"
code=$(nsenter -t "$CLI" -n curl -s -m 5 -o /dev/null -w '%{http_code}' http://10.98.0.1:8080/ 2>&1)
[[ $code == 200 ]] && pass proxy_plain "plain HTTP through jfe: $code" || fail proxy_plain "$code"
code=$(nsenter -t "$CLI" -n curl -sk -m 10 -o /dev/null -w '%{http_code} %{ssl_verify_result}' \
	--resolve www.example.test:8080:10.98.0.1 https://www.example.test:8080/ 2>&1)
seen=$(grep -c '^10\.98\.0\.2 ' "$T/backend.log")
if [[ $code == "200 "* && $seen -ge 2 ]]; then
	pass proxy_tls "TLS terminated by jfe in front of a plain service: $code; the service saw the client's own address"
else
	fail proxy_tls "$code; backend saw: $(tail -n 3 "$T/backend.log")"
fi
sleep 0.7
[[ $(note) == *WATCHDOG=1* ]] && pass watchdog "WATCHDOG=1 at half of WATCHDOG_USEC" ||
	fail watchdog "$(note)"
check_stat control_socket /run/jfe/control.sock "660 root:jfe socket"
check status_root R /usr/sbin/jfe status
out=$(R /usr/sbin/jfe status --json 2>&1)
if "$DL_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["interception"]["rules_installed"]
assert d["interception"]["run_as"] == "user jfe (CAP_NET_ADMIN only)"' "$out" 2>/dev/null; then
	pass status_json
else
	fail status_json "$out"
fi
out=$(R /usr/sbin/jfe status --metrics 2>&1)
[[ $out == *"jfe_"* ]] && pass status_metrics || fail status_metrics "$out"
out=$(R setpriv --reuid=nobody --regid=nogroup --groups=jfe /usr/sbin/jfe status 2>&1)
[[ $? == 0 ]] && pass status_jfe_group "a member of group jfe may ask" || fail status_jfe_group "$out"
out=$(R setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/jfe status 2>&1)
rc=$?
[[ $rc != 0 && $out == *"ermission denied"* ]] && pass status_others_refused "$out" ||
	fail status_others_refused "rc=$rc $out"
kill -HUP "$DPID"
for ((i = 0; i < 100; i++)); do [[ $(note) == *"STATUS=options reloaded"* ]] && break; sleep 0.05; done
[[ $(note) == *"STATUS=options reloaded"* ]] && pass sighup_reload "ExecReload's SIGHUP: STATUS=options reloaded" ||
	fail sighup_reload "$(note)"
kill -TERM "$DPID"
rc=''
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$JPID" 2>/dev/null; then wait "$JPID"; rc=$?; break; fi
	sleep 0.05
done
if [[ -z $rc ]]; then   # still running (so its pids are still its own): kill it
	kill -KILL "$DPID" "$JPID" 2>/dev/null
	wait "$JPID" 2>/dev/null
fi
JPID='' DPID=''
if [[ $rc == 0 && $(note) == *STOPPING=1* ]] && ! nft list table inet jfe >/dev/null 2>&1 &&
	! ip rule show | grep -q 'fwmark'; then
	pass sigterm_stop "exit 0, STOPPING=1, table and policy route removed (as the user jfe, with CAP_NET_ADMIN)"
else
	fail sigterm_stop "rc=$rc $(note) $(nft list tables 2>&1) $(ip rule show) $(tail -n 5 "$T/jfe.log")"
fi
notjfe=$(find "$M/var/lib/jfe" ! -uid "$uid" -printf '%p ' 2>&1)
[[ -z $notjfe && -d $M/var/lib/jfe/certs ]] && pass state_owner "everything in /var/lib/jfe is jfe's" ||
	fail state_owner "not jfe's: $notjfe"
kill "$SINK" "$BACKEND" "$CLI" 2>/dev/null; wait "$SINK" "$BACKEND" "$CLI" 2>/dev/null
SINK='' BACKEND='' CLI=''
rm -f "$M/run/notify.sock"
if ((${#TRACE[@]})); then
	out=$("$DL_REPO/tests/delivery/syscall_check.sh" "$DL_REPO/packaging/jfe.service" "$T/trace" 2>&1)
	[[ $? == 0 ]] && pass syscall_filter "strace of start, proxying, status, reload, stop: $out" ||
		fail syscall_filter "$out"
else
	echo "# strace not installed: the system calls were not checked against SystemCallFilter="
fi

# ---------------------------------------------------------------- the unit, in the copy
# verify needs the unit's binaries and man pages to exist: they do here. It exits 0 on most
# problems, so the gate is "prints nothing".
out=$(R systemd-analyze verify /tmp/jfe.service 2>&1)
[[ -z $out ]] && pass unit_verify "systemd-analyze verify packaging/jfe.service: no output" ||
	fail unit_verify "$out"

# ---------------------------------------------------------------- remove, then purge
R systemctl enable jfe.service >/dev/null 2>&1   # an operator's enable, offline
echo "email ops@example.com" >>"$M/etc/jfe/jfe.conf"          # a modified conffile
printf 'x\n' >"$M/etc/jfe/cloudflare-token"                  # what cloud-init's setup writes
out=$(R dpkg -r jfe 2>&1)
rc=$?
if [[ $rc == 0 && ! -e $M/usr/sbin/jfe && -f $M/etc/jfe/jfe.conf && -d $M/var/lib/jfe ]]; then
	pass remove "dpkg -r: binary gone, options file and state kept"
else
	fail remove "rc=$rc $out"
fi
out=$(R dpkg --purge jfe 2>&1)
rc=$?
[[ $rc == 0 ]] && pass purge || fail purge "rc=$rc $out"
gone=()
for p in /etc/jfe /var/lib/jfe /usr/share/jfe /usr/share/doc/jfe /lib/systemd/system/jfe.service \
	/etc/systemd/system/multi-user.target.wants/jfe.service /usr/sbin/jfe; do
	[[ -e $M$p || -L $M$p ]] && gone+=("$p")
done
((${#gone[@]} == 0)) && pass purge_paths "no /etc/jfe, /var/lib/jfe, unit, links or binary left" ||
	fail purge_paths "left: ${gone[*]}"
[[ -z $(R dpkg-statoverride --list /etc/jfe/jfe.conf) ]] && pass purge_statoverride ||
	fail purge_statoverride "$(R dpkg-statoverride --list)"
if R getent passwd jfe >/dev/null; then
	pass user_kept "the jfe user and group stay after purge (Debian policy)"
else
	fail user_kept "jfe user removed"
fi
# Everything the package ever wrote is gone: what is left in the upper layer is the dpkg
# database, logs, caches and the account files, plus directories that exist on the host.
allowed='^(f|l) /(etc/(passwd|group|shadow|gshadow|subuid|subgid)-?|etc/\.pwd\.lock|var/lib/dpkg/.*|var/log/.*|var/cache/(man|debconf|ldconfig)/.*|etc/ld\.so\.cache)$'
left=()
while read -r kind path; do
	[[ -z $path ]] && continue
	if [[ $kind == d ]]; then
		# a directory left behind is one the host does not have
		[[ -d $path || $path == /var/lib/systemd/deb-systemd-helper-* ]] || left+=("dir $path")
	elif [[ $kind == c ]]; then
		[[ $path == /var/lib/dpkg/* ]] || left+=("deleted host file $path")
	elif ! [[ "$kind $path" =~ $allowed ]]; then
		left+=("$kind $path")
	fi
done < <(comm -13 <(echo "$baseline") <(upper_list))
((${#left[@]} == 0)) && pass purge_leaves_nothing "upper layer: only dpkg database, logs, caches, account files" ||
	fail purge_leaves_nothing "$(printf '%s\n' "${left[@]}")"

echo "# scratch root: $DL_PASSED passed, $DL_FAILED failed"
((DL_FAILED == 0))
