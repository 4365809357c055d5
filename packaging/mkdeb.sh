#!/bin/bash
# packaging/mkdeb.sh — build build/jfe_<version>-<rev>_<arch>.deb with dpkg-deb from a tree
# staged under build/deb/root. Run by `make deb` (no root needed: --root-owner-group).
#
# The binary is built apart from ./jfe, in build/deb-bin, with Debian's hardening flags
# (dpkg-buildflags, hardening=+all), then stripped. The man pages and the commented default
# /etc/jfe/jfe.conf are generated from `jfe run --help`, so they list every option.
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last commit's time), the
# tree is sorted, owned by root, and compressed deterministically; two builds of the same tree
# give the same bytes.
#
# Environment: DEB_REVISION (default 1), DEB_MAINTAINER (default: the last commit's author),
# SOURCE_DATE_EPOCH, MAKE (default make), JOBS (default: the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

die() { echo "mkdeb: $*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps dpkg-buildflags dpkg-architecture gzip strip awk; do
	command -v "$t" >/dev/null || die "$t is missing (apt-get install dpkg-dev binutils gawk)"
done

VERSION=$(sed -n 's/^#define JFE_VERSION "\(.*\)"$/\1/p' agent/version.h)
[[ -n $VERSION ]] || die "no JFE_VERSION in agent/version.h"
DEB_VERSION=$VERSION-${DEB_REVISION:-1}
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || stat -c %Y agent/version.h)
fi
export SOURCE_DATE_EPOCH
MAINTAINER=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || true)}
[[ $MAINTAINER == *'<'*@*'>' ]] || die "set DEB_MAINTAINER='Name <address>'"

OUT=build/jfe_${DEB_VERSION}_$ARCH.deb
STAGE=build/deb
ROOT=$STAGE/root
BIN=build/deb-bin

# 1. The hardened binary (objects of its own, so ./jfe and build/rel are untouched).
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
"${MAKE:-make}" --no-print-directory -s -j"${JOBS:-$(nproc)}" BUILD="$BIN" CFLAGS="$cflags" \
	LDFLAGS="$ldflags" "$BIN/jfe" || die "building $BIN/jfe failed"

# 2. The staged tree.
rm -rf "$STAGE"
mkdir -p "$ROOT/DEBIAN" "$ROOT/usr/sbin" "$ROOT/lib/systemd/system" "$ROOT/etc/jfe" \
	"$ROOT/usr/share/jfe" "$ROOT/usr/share/doc/jfe" "$ROOT/usr/share/man/man8" \
	"$ROOT/usr/share/man/man5" "$ROOT/usr/share/lintian/overrides"
install -m 0755 "$BIN/jfe" "$ROOT/usr/sbin/jfe"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/sbin/jfe"
install -m 0644 packaging/jfe.service "$ROOT/lib/systemd/system/jfe.service"

help=$("$ROOT/usr/sbin/jfe" run --help) || die "jfe run --help failed"
{
	echo "# /etc/jfe/jfe.conf — options of jfe run (see jfe.conf(5) and jfe run --help)."
	echo "#"
	echo "# One option per line, without the leading dashes: \"name value\". Flags take yes or"
	echo "# no. Lines starting with # are comments. Every option is shown commented out, with"
	echo "# its default when it has one. Check the file with \`jfe rules -f /etc/jfe/jfe.conf\`,"
	echo "# then apply it with \`systemctl reload jfe\` (or restart, for ports and the listener)."
	awk -v mode=file -f packaging/man/options.awk <<<"$help"
} >"$ROOT/etc/jfe/jfe.conf"
chmod 0644 "$ROOT/etc/jfe/jfe.conf"   # 0640 root:jfe through dpkg-statoverride in postinst

# every data/aws/*.pem, in a fixed order: the default of --imds-cert
export LC_ALL=C
pems=(data/aws/*.pem)
((${#pems[@]})) || die "no data/aws/*.pem"
cat "${pems[@]}" >"$ROOT/usr/share/jfe/aws-rsa2048.pem"
chmod 0644 "$ROOT/usr/share/jfe/aws-rsa2048.pem"

date_man=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
date_rfc=$(date -u -d "@$SOURCE_DATE_EPOCH" -R)
man_page() { # TEMPLATE MODE OUTPUT
	local opts
	opts=$(awk -v mode="$2" -f packaging/man/options.awk <<<"$help")
	OPTS=$opts awk -v ver="$VERSION" -v d="$date_man" '
		/^@OPTIONS@$/ { print ENVIRON["OPTS"]; next }
		{ gsub(/@VERSION@/, ver); gsub(/@DATE@/, d); print }' "$1" | gzip -9n >"$3"
	chmod 0644 "$3"
}
man_page packaging/man/jfe.8.in man "$ROOT/usr/share/man/man8/jfe.8.gz"
man_page packaging/man/jfe.conf.5.in conf "$ROOT/usr/share/man/man5/jfe.conf.5.gz"

install -m 0644 packaging/deb/copyright "$ROOT/usr/share/doc/jfe/copyright"
install -m 0644 packaging/deb/lintian-overrides "$ROOT/usr/share/lintian/overrides/jfe"
sed -e "s/@MAINTAINER@/$MAINTAINER/" -e "s/@DATE@/$date_rfc/" packaging/deb/changelog |
	gzip -9n >"$ROOT/usr/share/doc/jfe/changelog.Debian.gz"
chmod 0644 "$ROOT/usr/share/doc/jfe/changelog.Debian.gz"

for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$ROOT/DEBIAN/$s"; done
echo /etc/jfe/jfe.conf >"$ROOT/DEBIAN/conffiles"

# 3. Control file: library dependencies from dpkg-shlibdeps (it wants a debian/control).
mkdir -p "$STAGE/src/debian"
printf 'Source: jfe\n\nPackage: jfe\nArchitecture: any\n' >"$STAGE/src/debian/control"
shlibs=$(cd "$STAGE/src" && dpkg-shlibdeps -O "$REPO/$ROOT/usr/sbin/jfe" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || die "dpkg-shlibdeps found no dependencies"
size=$(find "$ROOT" -path "$ROOT/DEBIAN" -prune -o -type f -printf '%s\n' |
	awk '{ k += int(($1 + 1023) / 1024) } END { print k }')
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@MAINTAINER@/$MAINTAINER/" \
	-e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" packaging/deb/control.in >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"

# 4. Reproducible tree and archive.
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0 touch -h -d "@$SOURCE_DATE_EPOCH"
rm -f "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT" >/dev/null
echo "$OUT"
