# shellcheck shell=bash disable=SC2034  # variables are for the scripts that source this
# tests/delivery/lib.sh — PASS/FAIL helpers for the delivery checks (same line protocol as
# tests/run: "PASS: name" / "FAIL: name", details on "  # " lines).
DL_PASSED=${DL_PASSED:-0} DL_FAILED=${DL_FAILED:-0}
DL_PREFIX=${DL_PREFIX:-delivery}

pass() {
	echo "PASS: $DL_PREFIX.$1"
	[[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/  # /'
	DL_PASSED=$((DL_PASSED + 1))
	return 0
}

fail() {
	echo "FAIL: $DL_PREFIX.$1"
	[[ -n ${2:-} ]] && printf '%s\n' "$2" | tail -n 40 | sed 's/^/  # /'
	DL_FAILED=$((DL_FAILED + 1))
	return 0
}

# check NAME CMD…: PASS when CMD succeeds; otherwise FAIL with CMD's output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# the repository's root
DL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Debian's interpreter (cloud-init's modules live there, not in a pyenv on PATH)
DL_PY=/usr/bin/python3
[[ -x $DL_PY ]] || DL_PY=$(command -v python3 || echo python3)

# ---------------------------------------------------------------- scratch copy of the host
# scratch_up: a disposable copy of this host at $M, for installing the package for real.
# Must be called as root inside private mount and network namespaces (it refuses otherwise;
# run the script with `unshare --mount --net --propagation private`). The copy is an overlay
# whose lower layer is the host's / (read-only) and whose upper layer ($U) is a tmpfs, with
# its own /proc, /run and /tmp, the host's /dev (and /dev/pts), loopback up, and a policy-rc.d that forbids
# starting services. Nothing written in it reaches the host; the mounts go away with the
# namespace, and the EXIT trap unmounts and removes the rest ($SCRATCH_PRE_DOWN runs first).
scratch_up() {
	[[ $(id -u) == 0 ]] || { fail setup "must run as root"; return 1; }
	if [[ $(readlink /proc/self/ns/mnt) == "$(readlink /proc/1/ns/mnt)" ||
		$(readlink /proc/self/ns/net) == "$(readlink /proc/1/ns/net)" ]]; then
		fail setup "refusing to run outside private mount and network namespaces"
		return 1
	fi
	mount --make-rprivate / 2>/dev/null
	T=$(mktemp -d /tmp/jfe-scratch.XXXXXX) || return 1
	M=$T/root
	U=$T/layer/upper
	trap scratch_down EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$T/layer" "$M"
	if ! mount -t tmpfs -o size=1g,mode=0755 jfe-scratch "$T/layer" ||
		! mkdir "$T/layer/upper" "$T/layer/work" ||
		! mount -t overlay jfe-scratch -o "lowerdir=/,upperdir=$U,workdir=$T/layer/work" "$M" ||
		! mount -t proc proc "$M/proc" || ! mount --rbind /dev "$M/dev" ||
		! mount -t tmpfs -o mode=0755 run "$M/run" || ! mount -t tmpfs -o mode=1777 tmp "$M/tmp"; then
		fail setup "cannot build the overlay copy of / in $T"
		return 1
	fi
	ip link set lo up
	printf '#!/bin/sh\nexit 101\n' >"$M/usr/sbin/policy-rc.d" && chmod 0755 "$M/usr/sbin/policy-rc.d"
}

scratch_down() {
	local m
	[[ -n ${SCRATCH_PRE_DOWN:-} ]] && "$SCRATCH_PRE_DOWN"
	[[ -n ${T:-} && -d $T ]] || return 0
	for m in "$M/run" "$M/tmp" "$M/dev" "$M/proc" "$M" "$T/layer"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	# only ever delete what holds no mount any more
	if ! grep -q " ${T}[/ ]" /proc/self/mountinfo; then rm -rf "$T"; fi
}

# R CMD…: run CMD in the copy, with a clean environment
R() { chroot "$M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# upper_list: what the copy changed, as "KIND /path" (KIND: find's %y), minus the scaffolding
upper_list() {
	(cd "$U" && find . -mindepth 1 -printf '%y /%P\n') |
		grep -v -E ' /(usr/sbin/policy-rc\.d|usr/sbin|usr)$' | sort
}
