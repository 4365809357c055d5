#!/bin/bash
# shellcheck disable=SC2015,SC2012,SC2013,SC2181  # pass/fail always succeed; simple file names
# tests/delivery/rootfs-check.sh [DEB] — bake jfe into a fresh, minimal Debian 12 the way the
# AMI recipe does, offline from any cloud (`make rootfs-check`; about 1.5-3 minutes, most of
# it debootstrap downloading ~60 MB; needs root and the Debian mirror).
#
#   1. debootstrap --variant=minbase bookworm into a temporary directory, from the mirror of
#      this host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*; or
#      $DEBIAN_MIRROR)
#   2. a policy-rc.d that forbids starting services; packaging/bake.sh --clean in the chroot,
#      as Packer runs it: apt-get install ./jfe_*.deb (dependencies from the mirror), the
#      Packer options file, systemctl enable jfe (offline), no machine id left behind
#   3. in the chroot: jfe version, the jfe user, the enablement link, systemd-analyze verify
#      (no output) and security (exposure <= 2.5) of the installed unit
#   4. apt-get purge jfe: nothing of it left
# Mounts live in a private mount namespace; the directory is unmounted and removed on every
# exit path (the EXIT trap refuses to delete anything that still has a mount below it).
set -u
# shellcheck source=tests/delivery/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034  # read by lib.sh
DL_PREFIX=delivery.rootfs
cd "$DL_REPO" || exit 2

DEB=${1:-$(ls -t build/jfe_*.deb 2>/dev/null | head -n 1)}
[[ -n $DEB && -f $DEB ]] || { fail setup "no package: run make deb first"; exit 1; }
DEB=$(realpath "$DEB")
[[ $(id -u) == 0 ]] || { fail setup "needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { fail setup "debootstrap missing (tests/delivery/deps.sh --rootfs)"; exit 1; }

# 0. private mount namespace (the network stays: apt needs the mirror)
if [[ -z ${JFE_ROOTFS_NS:-} ]]; then
	JFE_ROOTFS_NS=1 exec unshare --mount --propagation private "$0" "$DEB"
fi

# the host's Debian mirror: the first deb source carrying the suite bookworm
mirror() {
	local f uri
	[[ -n ${DEBIAN_MIRROR:-} ]] && { echo "$DEBIAN_MIRROR"; return; }
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
			{ t = u = s = en = ""
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/) t = $i
				if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
				if ($i ~ /^Suites:/) s = " " $i " "
				if ($i ~ /^Enabled:[ \t]*no/) en = "no"
			  }
			  if (t ~ /[ \t]deb([ \t]|$)/ && s ~ /[ \t]bookworm[ \t]/ && en != "no") { print u; exit } }' "$f")
		[[ -n $uri ]] && { echo "$uri"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit } }' "$f")
		[[ -n $uri ]] && { echo "$uri"; return; }
	done
}
MIRROR=$(mirror)
[[ -n $MIRROR ]] || { fail setup "no bookworm mirror in /etc/apt sources; set DEBIAN_MIRROR"; exit 1; }

ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/jfe-rootfs.XXXXXX") || exit 1
LOG=$ROOTFS.log
cleanup() {
	local m
	# mount points below ROOTFS, deepest first
	for m in $(awk -v r="$ROOTFS" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	if awk -v r="$ROOTFS" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		echo "# rootfs-check: mounts remain below $ROOTFS; not removing it" >&2
	else
		rm -rf --one-file-system "$ROOTFS"
	fi
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount --make-rprivate / 2>/dev/null

t0=$(date +%s)
if debootstrap --variant=minbase --include=systemd bookworm "$ROOTFS" "$MIRROR" >"$LOG" 2>&1; then
	pass debootstrap "minbase bookworm + systemd in $(($(date +%s) - t0)) s, $(du -sm "$ROOTFS" | cut -f1) MB"
else
	fail debootstrap "$(tail -n 20 "$LOG")"
	exit 1
fi
mount -t proc proc "$ROOTFS/proc" && mount -t sysfs sysfs "$ROOTFS/sys" &&
	mount --bind /dev "$ROOTFS/dev" && mount -t devpts devpts "$ROOTFS/dev/pts" ||
	{ fail setup "mounting /proc, /sys, /dev in the chroot"; exit 1; }
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d" && chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null
mkdir -p "$ROOTFS/tmp/jfe-bake"
cp "$DEB" "$ROOTFS/tmp/jfe-bake/$(basename "$DEB")"
cp packaging/bake.sh packaging/packer/jfe.conf "$ROOTFS/tmp/jfe-bake/"
C() { chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

t0=$(date +%s)
if out=$(cd "$ROOTFS/tmp/jfe-bake" && C sh -c "cd /tmp/jfe-bake && sh ./bake.sh --clean ./$(basename "$DEB") ./jfe.conf" 2>&1); then
	pass bake "packaging/bake.sh --clean: apt-get install ./$(basename "$DEB"), options, enable ($(($(date +%s) - t0)) s)"
else
	fail bake "$out"
	exit 1
fi
[[ -f $ROOTFS/etc/machine-id && ! -s $ROOTFS/etc/machine-id ]] && pass clean "empty /etc/machine-id: each instance makes its own" ||
	fail clean "/etc/machine-id: $(cat "$ROOTFS/etc/machine-id" 2>&1)"
v=$(C jfe version 2>&1)
[[ $v == "jfe "* ]] && pass version "$v (in the chroot's own userland)" || fail version "$v"
out=$(C jfe run --help 2>&1) && pass run_help || fail run_help "$out"
st=$(systemctl --root="$ROOTFS" is-enabled jfe.service 2>&1)
[[ $st == enabled && -L $ROOTFS/etc/systemd/system/multi-user.target.wants/jfe.service ]] &&
	pass enabled "systemctl is-enabled: $st" || fail enabled "$st"
u=$(C getent passwd jfe)
[[ $u == jfe:*:/var/lib/jfe:/usr/sbin/nologin ]] && pass system_user "$u" || fail system_user "$u"
st=$(C stat -c '%a %U:%G' /etc/jfe/jfe.conf /var/lib/jfe 2>&1 | paste -sd' ')
[[ $st == "640 root:jfe 700 jfe:jfe" ]] && pass modes "jfe.conf, /var/lib/jfe: $st" || fail modes "$st"
cmp -s packaging/packer/jfe.conf "$ROOTFS/etc/jfe/jfe.conf" && pass baked_options ||
	fail baked_options "$(diff packaging/packer/jfe.conf "$ROOTFS/etc/jfe/jfe.conf")"
# the unit as installed, with the chroot's systemd 252 and with this host's
out=$(C systemd-analyze verify --man=no /lib/systemd/system/jfe.service 2>&1)
[[ -z $out ]] && pass unit_verify_chroot "systemd-analyze verify in the chroot: no output" ||
	fail unit_verify_chroot "$out"
out=$(systemd-analyze verify --man=no --root="$ROOTFS" jfe.service 2>&1)
[[ -z $out ]] && pass unit_verify_root "systemd-analyze verify --root: no output" ||
	fail unit_verify_root "$out"
out=$(systemd-analyze security --offline=yes --threshold=25 --root="$ROOTFS" jfe.service 2>&1)
if [[ $? == 0 ]]; then pass unit_security "$(tail -n 1 <<<"$out")"; else fail unit_security "$(tail -n 3 <<<"$out")"; fi

if out=$(C apt-get purge -y -q jfe 2>&1); then
	left=()
	for p in /usr/sbin/jfe /etc/jfe /var/lib/jfe /usr/share/jfe /usr/share/doc/jfe \
		/lib/systemd/system/jfe.service /etc/systemd/system/multi-user.target.wants/jfe.service; do
		[[ -e $ROOTFS$p || -L $ROOTFS$p ]] && left+=("$p")
	done
	((${#left[@]} == 0)) && pass purge "apt-get purge jfe: nothing left (the jfe user stays, Debian policy)" ||
		fail purge "left: ${left[*]}"
else
	fail purge "$out"
fi

echo "# rootfs-check: $DL_PASSED passed, $DL_FAILED failed"
((DL_FAILED == 0))
