#!/bin/sh
# packaging/bake.sh [--clean] DEB [OPTIONS_FILE] — put jfe into a system image being baked.
#
# Run as root inside the target: on the Packer build instance (packaging/packer/jfe.pkr.hcl)
# and in the debootstrap chroot of `make rootfs-check`, so the image recipe is tested offline.
#   1. apt-get install the package (its dependencies come from the image's mirror); an options
#      file already there is kept (--force-confold)
#   2. OPTIONS_FILE, when given, is checked with `jfe rules -f` and installed as
#      /etc/jfe/jfe.conf (root:jfe 0640)
#   3. jfe.service is enabled (it starts at the next boot); nothing is started here
#   4. --clean: what must not be baked into an image: cloud-init's state and logs, the
#      machine id (jfe's identity when there is no EC2 instance identity), apt's lists
set -eu
clean=0
if [ "${1:-}" = --clean ]; then clean=1; shift; fi
deb=${1:?usage: bake.sh [--clean] DEB [OPTIONS_FILE]}
conf=${2:-}
case $deb in /*) ;; *) deb=./$deb ;; esac
export DEBIAN_FRONTEND=noninteractive

apt-get update -q
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "$deb"

if [ -n "$conf" ]; then
	if ! err=$(jfe rules -f "$conf" 2>&1 >/dev/null); then
		echo "bake.sh: $conf: $err" >&2
		exit 1
	fi
	install -m 0640 -o root -g jfe "$conf" /etc/jfe/jfe.conf
fi

systemctl enable jfe.service
jfe version

if [ "$clean" = 1 ]; then
	if command -v cloud-init >/dev/null; then cloud-init clean --logs; fi
	truncate -s 0 /etc/machine-id
	if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
		rm -f /var/lib/dbus/machine-id
	fi
	apt-get clean
	rm -rf /var/lib/apt/lists/*
fi
