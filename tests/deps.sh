#!/bin/bash
# tests/deps.sh — install what jfe's build and tests need (Debian/Ubuntu, as root).
#
# usage: tests/deps.sh [--demo] [--check]
#   (none)   build deps + every test tool
#   --demo   only what `make demo` needs (build deps + the demo's tools)
#   --check  install nothing: list what is missing, exit 1 if anything is
# Only missing packages are installed; `apt-get update` runs once, and only when something is
# missing. Quiet on success; on failure prints apt's output and exits non-zero.
set -u

BUILD_PKGS=(gcc make pkg-config libssl-dev libnftnl-dev libmnl-dev libcurl4-openssl-dev libxml2-dev
	libjansson-dev libc-ares-dev libpsl-dev libsystemd-dev)
TEST_PKGS=(nftables iproute2 curl openssl socat python3 pebble bind9-dnsutils procps coreutils
	testssl.sh util-linux
	python3-botocore awscli clang libclang-rt-14-dev
	postgresql postfix swaks dovecot-imapd dovecot-pop3d mariadb-server
	mariadb-client redis-server redis-tools)
DEMO_PKGS=(nftables iproute2 curl openssl python3 procps coreutils pebble)

mode=all check=0
for a in "$@"; do
	case $a in
	--demo) mode=demo ;;
	--check) check=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "tests/deps.sh: unknown option $a" >&2; exit 2 ;;
	esac
done

if [[ $mode == demo ]]; then want=("${BUILD_PKGS[@]}" "${DEMO_PKGS[@]}")
else want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[[ $st == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $check == 1 ]]; then
	echo "tests/deps.sh: missing: ${missing[*]}"
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "tests/deps.sh: missing ${missing[*]}; run as root (sudo) to install them" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	echo "tests/deps.sh: missing ${missing[*]} and no apt-get here; install them by hand" >&2
	exit 1
fi

log=$(mktemp /tmp/jfe-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "tests/deps.sh: installing ${missing[*]}" >&2
if ! apt-get update -q >"$log" 2>&1; then
	cat "$log" >&2
	echo "tests/deps.sh: apt-get update failed" >&2
	exit 1
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "tests/deps.sh: apt-get install failed" >&2
	exit 1
fi
exit 0
