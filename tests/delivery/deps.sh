#!/bin/bash
# tests/delivery/deps.sh — install what the delivery checks need (Debian 12, as root).
#
# usage: tests/delivery/deps.sh [--check] [--rootfs]
#   (none)    Debian packages: dpkg-dev, lintian, cloud-init (kept disabled on this machine),
#             packer (formatter, syntax check), strace (system calls vs the unit's filter)
#             and the tools the scratch roots use, plus the npm package @cdktf/hcl2json
#             (exact version, in build/delivery-tools/, never in the repository)
#   --rootfs  also debootstrap (for `make rootfs-check`)
#   --check   install nothing: list what is missing, exit 1 if anything is
# Only what is missing is installed; `apt-get update` runs only then. cloud-init's postinst
# enables its boot units: they are disabled again and /etc/cloud/cloud-init.disabled is
# created first, so this machine never runs cloud-init at boot.
set -u
cd "$(dirname "$0")/../.." || exit 2

HCL_PKG=@cdktf/hcl2json
HCL_VERSION=0.21.0
TOOLS=build/delivery-tools
PKGS=(dpkg-dev binutils lintian cloud-init python3-yaml packer shellcheck groff-base man-db
	procps nftables iproute2 util-linux adduser curl strace file)
check=0 rootfs=0
for a in "$@"; do
	case $a in
	--check) check=1 ;;
	--rootfs) rootfs=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "tests/delivery/deps.sh: unknown option $a" >&2; exit 2 ;;
	esac
done
((rootfs)) && PKGS+=(debootstrap)

missing=()
for p in "${PKGS[@]}"; do
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
command -v npm >/dev/null || missing+=(npm)
hcl_ok=0
[[ -f $TOOLS/node_modules/@cdktf/hcl2json/package.json ]] &&
	grep -q "\"version\": \"$HCL_VERSION\"" "$TOOLS/node_modules/@cdktf/hcl2json/package.json" && hcl_ok=1

if ((check)); then
	((hcl_ok)) || missing+=("npm:$HCL_PKG@$HCL_VERSION")
	((${#missing[@]} == 0)) && exit 0
	echo "tests/delivery/deps.sh: missing: ${missing[*]}"
	exit 1
fi

log=$(mktemp /tmp/jfe-delivery-deps.XXXXXX)
trap 'rm -f "$log"' EXIT
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "tests/delivery/deps.sh: missing ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt=("${missing[@]}")
	# Debian's npm pulls in a large tree; nodejs from elsewhere may already bring npm
	if [[ " ${missing[*]} " == *" cloud-init "* ]]; then
		mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
	fi
	echo "tests/delivery/deps.sh: installing ${apt[*]}" >&2
	if ! apt-get update -q >"$log" 2>&1 ||
		! apt-get install -y -q --no-install-recommends "${apt[@]}" >>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		echo "tests/delivery/deps.sh: apt-get failed" >&2
		exit 1
	fi
	if [[ " ${missing[*]} " == *" cloud-init "* ]] && command -v systemctl >/dev/null; then
		systemctl disable cloud-config.service cloud-final.service cloud-init-hotplugd.socket \
			cloud-init-local.service cloud-init.service >/dev/null 2>&1 || true
	fi
fi

if ! ((hcl_ok)); then
	# exact version, no lock file in the repository; scripts off (the package has none)
	mkdir -p "$TOOLS"
	[[ -f $TOOLS/package.json ]] || printf '{ "name": "jfe-delivery-tools", "private": true }\n' >"$TOOLS/package.json"
	if ! npm install --prefix "$TOOLS" --ignore-scripts --no-audit --no-fund --save-exact \
		"$HCL_PKG@$HCL_VERSION" >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		echo "tests/delivery/deps.sh: npm install $HCL_PKG@$HCL_VERSION failed" >&2
		exit 1
	fi
fi
exit 0
