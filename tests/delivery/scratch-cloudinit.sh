#!/bin/bash
# shellcheck disable=SC2015,SC2016,SC2181  # pass/fail always succeed; dpkg-query formats are literal
# tests/delivery/scratch-cloudinit.sh DEB — play cloud-init/user-data.yaml, rendered, in a
# disposable copy of this host (tests/delivery/lib.sh scratch_up: overlay on /, private mount
# and network namespaces; run it with `unshare --mount --net --propagation private`).
#
# cloud-init itself cannot run here (no instance, no datasource), so this does what its
# modules would do with the rendered file: write_files (path, content, permissions, owner),
# then every runcmd entry, chrooted. package_update/packages need the network and are only
# checked to be installed on this host already. Scenarios:
#   route53    the package from a file:// URL with its SHA-256, staging, Route53, a wildcard
#              and two allowed domains → jfe installed, /etc/jfe/jfe.conf exactly as
#              expected, valid, root:jfe 0640, jfe.service enabled
#   cloudflare the package already there (empty jfe_deb_url, as on a baked AMI), a Cloudflare
#              token read from SSM by a stand-in `aws` → the token in /etc/jfe/cloudflare-token
#              (root:jfe 0640), named in the options file, absent from user-data, options and output
#   bad_sha    a wrong jfe_deb_sha256 → the setup fails before installing anything
set -u
# shellcheck source=tests/delivery/lib.sh
. "$(dirname "$0")/lib.sh"
DL_PREFIX=delivery.cloudinit

DEB=$(realpath "${1:?usage: scratch-cloudinit.sh DEB}")
scratch_up || exit 1
cp "$DEB" "$M/tmp/jfe.deb"
sha=$(sha256sum <"$DEB" | cut -d' ' -f1)

for p in ca-certificates curl; do
	[[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] ||
		fail "packages_$p" "$p (in packages:) is not installed here; the copy cannot fetch it"
done

# play FILE: write_files then runcmd of a #cloud-config FILE into the copy; output on stdout
play() {
	"$DL_PY" - "$1" "$M" <<-'PY'
	import grp, os, pwd, subprocess, sys, yaml
	cfg = yaml.safe_load(open(sys.argv[1]))
	root = sys.argv[2]
	for f in cfg.get("write_files", []):
	    path = root + f["path"]
	    os.makedirs(os.path.dirname(path), exist_ok=True)
	    with open(path, "w") as out:
	        out.write(f.get("content", ""))
	    os.chmod(path, int(f.get("permissions", "0644"), 8))
	    user, group = f.get("owner", "root:root").split(":")
	    os.chown(path, 0 if user == "root" else pwd.getpwnam(user).pw_uid,
	             0 if group == "root" else grp.getgrnam(group).gr_gid)
	rc = 0
	for cmd in cfg.get("runcmd", []):
	    argv = cmd if isinstance(cmd, list) else ["/bin/sh", "-c", cmd]
	    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	           "LC_ALL": "C.UTF-8"}
	    r = subprocess.run(["chroot", root] + argv, env=env, stderr=subprocess.STDOUT)
	    print(f"runcmd {argv}: exit {r.returncode}", flush=True)
	    rc = rc or r.returncode
	sys.exit(rc)
	PY
}

render() { "$DL_REPO/cloud-init/render.sh" "$@"; }

# ---------------------------------------------------------------- route53
render jfe_deb_url=file:///tmp/jfe.deb jfe_deb_sha256="$sha" acme_email=ops@example.com \
	acme_staging=yes dns_provider=route53 wildcard_domains=example.com \
	allowed_domains="example.com example.net" cloudflare_token_parameter= aws_region= \
	>"$T/route53.yaml"
out=$(play "$T/route53.yaml" 2>&1)
rc=$?
if [[ $rc == 0 && $(R dpkg-query -W -f='${db:Status-Abbrev}' jfe 2>/dev/null) == "ii " ]]; then
	pass route53_setup "write_files + runcmd: exit 0, jfe installed from file:// with its SHA-256"
else
	fail route53_setup "rc=$rc $out"
fi
want='email ops@example.com
staging yes
dns-provider route53
wildcard example.com
allow-domain example.com
allow-domain example.net'
got=$(grep -v '^#' "$M/etc/jfe/jfe.conf" 2>&1)
[[ $got == "$want" ]] && pass route53_options "$(tr '\n' ';' <<<"$got")" ||
	fail route53_options "got:
$got"
st=$(R stat -c '%a %U:%G' /etc/jfe/jfe.conf 2>&1)
[[ $st == "640 root:jfe" ]] && pass options_mode "$st" || fail options_mode "$st"
out2=$(R jfe rules -f /etc/jfe/jfe.conf 2>&1 >/dev/null)
[[ $? == 0 ]] && pass options_valid "jfe rules -f /etc/jfe/jfe.conf" || fail options_valid "$out2"
[[ -L $M/etc/systemd/system/multi-user.target.wants/jfe.service ]] &&
	pass enabled "multi-user.target.wants/jfe.service (restart is skipped in a chroot)" ||
	fail enabled "$out"
[[ ! -e $M/etc/jfe/jfe.conf.cloud-init ]] && pass no_temp_file || fail no_temp_file

# ---------------------------------------------------------------- cloudflare (AMI path)
# a stand-in for the AWS CLI: records its arguments, prints the token
cat >"$M/usr/local/bin/aws" <<'EOF'
#!/bin/sh
echo "$*" >/tmp/aws.args
echo "cf-token-0123456789abcdef"
EOF
chmod 0755 "$M/usr/local/bin/aws"
render jfe_deb_url= jfe_deb_sha256= acme_email= acme_staging=no dns_provider=cloudflare \
	wildcard_domains="example.org" allowed_domains= \
	cloudflare_token_parameter=/jfe/cloudflare-api-token aws_region=eu-central-1 \
	>"$T/cloudflare.yaml"
out=$(play "$T/cloudflare.yaml" 2>&1)
rc=$?
args=$(cat "$M/tmp/aws.args" 2>/dev/null)
if [[ $rc == 0 && $args == "--region eu-central-1 ssm get-parameter --with-decryption --name /jfe/cloudflare-api-token --query Parameter.Value --output text" ]]; then
	pass cloudflare_setup "aws $args"
else
	fail cloudflare_setup "rc=$rc args=$args $out"
fi
st=$(R stat -c '%a %U:%G' /etc/jfe/cloudflare-token 2>&1)
tok=$(cat "$M/etc/jfe/cloudflare-token" 2>/dev/null)
[[ $st == "640 root:jfe" && $tok == cf-token-0123456789abcdef ]] && pass token_file "$st" ||
	fail token_file "$st"
got=$(grep -v '^#' "$M/etc/jfe/jfe.conf" 2>&1)
want='staging no
dns-provider cloudflare
wildcard example.org
cloudflare-token-file /etc/jfe/cloudflare-token'
[[ $got == "$want" ]] && pass cloudflare_options "$(tr '\n' ';' <<<"$got")" ||
	fail cloudflare_options "got:
$got"
if grep -rq cf-token-0123456789abcdef "$T/cloudflare.yaml" "$M/etc/jfe/jfe.conf" \
	"$M/etc/jfe/cloud-init.env" || [[ $out == *cf-token-0123456789abcdef* ]]; then
	fail token_not_leaked "the token appears in user-data, options, env file or output"
else
	pass token_not_leaked "only in /etc/jfe/cloudflare-token"
fi

# ---------------------------------------------------------------- wrong checksum
R dpkg --purge jfe >/dev/null 2>&1
render jfe_deb_url=/tmp/jfe.deb jfe_deb_sha256="$(printf '0%.0s' {1..64})" acme_email= \
	acme_staging=yes dns_provider= wildcard_domains= allowed_domains= \
	cloudflare_token_parameter= aws_region= >"$T/badsha.yaml"
out=$(play "$T/badsha.yaml" 2>&1)
rc=$?
if [[ $rc != 0 && $out == *"does not have the SHA-256"* && ! -e $M/usr/sbin/jfe ]]; then
	pass bad_sha "refused, nothing installed"
else
	fail bad_sha "rc=$rc $out"
fi

echo "# cloud-init in a scratch root: $DL_PASSED passed, $DL_FAILED failed"
((DL_FAILED == 0))
