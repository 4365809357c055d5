#!/bin/bash
# shellcheck disable=SC2015,SC2016,SC2181  # pass/fail always succeed; literal formats
# tests/integration/test_delivery.sh — issue 8's delivery pieces, checked offline (root, ~1 min):
#   package   make deb (twice: byte-identical), dpkg-deb --info/--contents, lintian (no E:)
#   unit      systemd-analyze security --offline (exposure <= 2.5) and the settings the
#             daemon relies on; `verify` runs in the scratch root, where the binary exists
#   install   tests/delivery/scratch-root.sh in private mount+network namespaces: dpkg -i
#             into an overlay copy of this host, jfe run the way the unit runs it (READY=1,
#             watchdog, status, SIGHUP, SIGTERM), verify, remove, purge leaves nothing
#   cloud-init  schema (template and example), strict top-level keys, the example is the
#             rendering of example.vars, shellcheck of the embedded setup script, the
#             terraform templatefile() passes exactly the template's variables, and
#             tests/delivery/scratch-cloudinit.sh plays the rendered file in a scratch root
#   HCL       every .tf and .pkr.hcl parsed with @cdktf/hcl2json, the mini-tflint
#             (tests/delivery/tflint.mjs), which must also reject a broken copy; formatting
#             and `packer validate -syntax-only` with Debian's packer when installed
#   rootfs    tests/delivery/rootfs-check.sh (debootstrap, ~2 min, network) only when
#             JFE_DELIVERY_ROOTFS=1; otherwise `make rootfs-check` runs it
# Installs its tools when missing (tests/delivery/deps.sh). Sends no traffic: the scratch
# roots have only loopback; npm and apt run only when something is missing.
set -u
# shellcheck source=tests/delivery/lib.sh
. "$(dirname "$0")/../delivery/lib.sh"
DL_PREFIX=delivery
cd "$DL_REPO" || exit 2
T0=$(date +%s)
SCRATCH=$(mktemp -d /tmp/jfe-delivery.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

finish() {
	echo "# delivery: $DL_PASSED passed, $DL_FAILED failed in $(($(date +%s) - T0)) s"
	[[ $DL_FAILED == 0 && $DL_PASSED -gt 0 ]] && exit 0
	exit 1
}
# sub SCRIPT ARGS…: run a PASS/FAIL-printing script, add its counts to ours
sub() {
	local out
	out=$("$@" 2>&1)
	printf '%s\n' "$out"
	DL_PASSED=$((DL_PASSED + $(grep -c '^PASS: ' <<<"$out")))
	DL_FAILED=$((DL_FAILED + $(grep -c '^FAIL: ' <<<"$out")))
	if ! grep -q '^\(PASS\|FAIL\): ' <<<"$out"; then fail "$(basename "$1")" "no result: $out"; fi
}

[[ $(id -u) == 0 ]] || { fail setup "run as root (dpkg in a scratch root, namespaces)"; finish; }
if out=$(tests/delivery/deps.sh 2>&1); then pass tools "$(tests/delivery/deps.sh --check || true)"
else fail tools "$out"; finish; fi

# ---------------------------------------------------------------- package
t=$(date +%s)
if out=$(make -s deb 2>&1); then
	DEB=$(tail -n 1 <<<"$out")
	pass deb_build "$DEB in $(($(date +%s) - t)) s"
else
	fail deb_build "$out"
	finish
fi
sha1=$(sha256sum <"$DEB")
out=$(make -s deb 2>&1)
[[ $? == 0 && $(sha256sum <"$DEB") == "$sha1" ]] && pass deb_reproducible "two builds, same bytes: ${sha1%% *}" ||
	fail deb_reproducible "$out"

version=$(sed -n 's/^#define JFE_VERSION "\(.*\)"$/\1/p' agent/version.h)
info=$(dpkg-deb --info "$DEB" 2>&1)
f() { dpkg-deb -f "$DEB" "$1"; }
probs=()
[[ $(f Package) == jfe ]] || probs+=("Package: $(f Package)")
[[ $(f Version) == "$version-"* ]] || probs+=("Version $(f Version) is not $version-*")
for d in adduser procps libssl3 libnftnl11 libmnl0 libcurl4 libjansson4 libsystemd0; do
	[[ $(f Depends) == *"$d"* ]] || probs+=("Depends lacks $d")
done
for s in postinst prerm postrm conffiles md5sums; do
	[[ $info == *" $s "* ]] || probs+=("no $s")
done
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
[[ $conffiles == /etc/jfe/jfe.conf ]] || probs+=("conffiles: $conffiles")
((${#probs[@]} == 0)) && pass deb_info "$(f Package) $(f Version) $(f Architecture), Depends: $(f Depends)" ||
	fail deb_info "$(printf '%s\n' "${probs[@]}")"

contents=$(dpkg-deb --contents "$DEB")
files=$(awk '$1 !~ /^d/ { print $6 }' <<<"$contents" | sort)
want_files='./etc/jfe/jfe.conf
./lib/systemd/system/jfe.service
./usr/sbin/jfe
./usr/share/doc/jfe/changelog.Debian.gz
./usr/share/doc/jfe/copyright
./usr/share/jfe/aws-rsa2048.pem
./usr/share/lintian/overrides/jfe
./usr/share/man/man5/jfe.conf.5.gz
./usr/share/man/man8/jfe.8.gz'
owners=$(awk '{ print $2 }' <<<"$contents" | sort -u)
if [[ $files == "$want_files" && $owners == root/root ]] && grep -q '^-rwxr-xr-x .* ./usr/sbin/jfe$' <<<"$contents"; then
	pass deb_contents "$(wc -l <<<"$files") files, all root/root"
else
	fail deb_contents "owners: $owners
$(diff <(echo "$want_files") <(echo "$files"))"
fi
tmpx=$SCRATCH/x
mkdir -p "$tmpx" && dpkg-deb -x "$DEB" "$tmpx"
if file "$tmpx/usr/sbin/jfe" | grep -q 'stripped' && ! file "$tmpx/usr/sbin/jfe" | grep -q 'not stripped'; then
	hard=$(readelf -d "$tmpx/usr/sbin/jfe" | grep -c 'BIND_NOW\|FLAGS_1.*NOW')
	relro=$(readelf -l "$tmpx/usr/sbin/jfe" | grep -c GNU_RELRO)
	pie=$(readelf -h "$tmpx/usr/sbin/jfe" | grep -c 'DYN')
	fort=$(nm -D "$tmpx/usr/sbin/jfe" | grep -c '__.*_chk')
	[[ $hard -ge 1 && $relro -ge 1 && $pie -ge 1 && $fort -ge 1 ]] &&
		pass deb_binary "stripped, PIE, RELRO, BIND_NOW, $fort fortified calls" ||
		fail deb_binary "bindnow=$hard relro=$relro pie=$pie fortify=$fort"
else
	fail deb_binary "$(file "$tmpx/usr/sbin/jfe")"
fi
man_warn=$(for m in "$tmpx"/usr/share/man/man*/*.gz; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$m" 2>&1 >/dev/null
done)
[[ -z $man_warn ]] && pass man_pages "jfe(8), jfe.conf(5): groff -ww clean" || fail man_pages "$man_warn"

lint=$(lintian --pedantic --info --show-overrides "$DEB" 2>&1 | grep -v 'running with root privileges')
nE=$(grep -c '^E: ' <<<"$lint") nW=$(grep -c '^W: ' <<<"$lint") nI=$(grep -c '^I: ' <<<"$lint")
nP=$(grep -c '^P: ' <<<"$lint") nO=$(grep -c '^O: ' <<<"$lint")
if [[ $nE == 0 ]]; then
	pass lintian "lintian --pedantic: $nE errors, $nW warnings, $nI info, $nP pedantic, $nO overridden$(grep -E '^(W|I|P): ' <<<"$lint" | head -n 5 | sed 's/^/\n/')"
else
	fail lintian "$(grep -E '^E: ' <<<"$lint")"
fi

# ---------------------------------------------------------------- the unit
sec=$(systemd-analyze security --offline=yes --threshold=25 packaging/jfe.service 2>&1)
rc=$?
score=$(sed -n 's/.*Overall exposure level for jfe.service: \([0-9.]*\).*/\1/p' <<<"$sec")
[[ $rc == 0 && -n $score ]] && pass unit_exposure "systemd-analyze security --offline=yes: $score (gate 2.5)" ||
	fail unit_exposure "rc=$rc $(tail -n 5 <<<"$sec")"
unit=$(sed 's/[[:space:]]*#.*//' packaging/jfe.service)
probs=()
for want in 'Type=notify' 'WatchdogSec=' 'ExecStart=/usr/sbin/jfe run --user jfe$' \
	'ExecStartPre=+/usr/sbin/jfe return-path set$' 'ExecStopPost=+/usr/sbin/jfe return-path restore$' \
	'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'ReadWritePaths=/var/lib/jfe$' \
	'RuntimeDirectory=jfe' 'Group=jfe' 'NoNewPrivileges=yes' \
	'PrivateNetwork=no' 'PrivateUsers=no' 'WantedBy=multi-user.target'; do
	grep -q "^$want" <<<"$unit" || probs+=("missing $want")
done
# what jfe needs until it drops to the user jfe, and nothing more (CAP_NET_ADMIN after it)
bset=$(sed -n 's/^CapabilityBoundingSet=//p' <<<"$unit" | tr ' ' '\n' | sort | paste -sd' ')
[[ $bset == "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETGID CAP_SETPCAP CAP_SETUID" ]] ||
	probs+=("CapabilityBoundingSet= is '$bset'")
# systemd would give /var/lib/jfe back to root at every start (see the unit)
grep -q '^StateDirectory=' <<<"$unit" && probs+=("StateDirectory= with a root start fights --user")
grep -qE '^(PrivateNetwork|PrivateUsers)=(yes|true|1)' <<<"$unit" && probs+=("private network or users")
grep -q '^After=.*cloud-final' <<<"$unit" && probs+=("After=cloud-final deadlocks runcmd")
grep -q '^User=' <<<"$unit" && probs+=("User= set: jfe starts as root and drops to jfe itself (--user jfe)")
((${#probs[@]} == 0)) && pass unit_settings "notify+watchdog, reload by SIGHUP, host network, bounded capabilities, --user jfe" ||
	fail unit_settings "$(printf '%s\n' "${probs[@]}")"

# ---------------------------------------------------------------- install into a scratch root
sub unshare --mount --net --propagation private tests/delivery/scratch-root.sh "$DEB"

# ---------------------------------------------------------------- cloud-init
for y in cloud-init/user-data.yaml cloud-init/user-data.example.yaml; do
	out=$(cloud-init schema --config-file "$y" 2>&1)
	[[ $? == 0 && $out == "Valid cloud-config: $y" ]] && pass "cloudinit_schema.$(basename "$y" .yaml)" "$out" ||
		fail "cloudinit_schema.$(basename "$y" .yaml)" "$out"
done
out=$("$DL_PY" tests/delivery/cloudinit_keys.py cloud-init/user-data.yaml cloud-init/user-data.example.yaml 2>&1)
[[ $? == 0 ]] && pass cloudinit_strict_keys "$out" || fail cloudinit_strict_keys "$out"
# the strict check is not vacuous: a misspelt module name fails it (and passes schema)
printf '#cloud-config\nruncmds:\n  - [true]\n' >"$SCRATCH/typo.yaml"
out=$("$DL_PY" tests/delivery/cloudinit_keys.py "$SCRATCH/typo.yaml" 2>&1)
[[ $? == 1 && $out == *runcmds* ]] && pass cloudinit_strict_keys_rejects "$out" || fail cloudinit_strict_keys_rejects "$out"
out=$(cloud-init/render.sh -f cloud-init/example.vars 2>&1 | diff - cloud-init/user-data.example.yaml)
[[ -z $out ]] && pass cloudinit_example_current "user-data.example.yaml = render.sh -f example.vars" ||
	fail cloudinit_example_current "$out"
"$DL_PY" -c 'import sys, yaml
for f in yaml.safe_load(open(sys.argv[1]))["write_files"]:
    if f["path"].endswith("jfe-cloud-setup"): open(sys.argv[2], "w").write(f["content"])' \
	cloud-init/user-data.example.yaml "$SCRATCH/jfe-cloud-setup"
out=$(shellcheck -s sh "$SCRATCH/jfe-cloud-setup" 2>&1)
[[ $? == 0 && -s $SCRATCH/jfe-cloud-setup ]] && pass cloudinit_setup_shellcheck || fail cloudinit_setup_shellcheck "$out"
tmpl_vars=$(grep -o '\${[a-z][a-z0-9_]*}' cloud-init/user-data.yaml | sed 's/[${}]//g' | sort -u)
tf_vars=$(awk '/templatefile\(.*user-data.yaml/ { on = 1; next } on && /^  }\)/ { on = 0 }
	on && /=/ { print $1 }' terraform/main.tf | sort -u)
[[ -n $tf_vars && $tmpl_vars == "$tf_vars" ]] && pass cloudinit_terraform_vars "templatefile() passes: $(paste -sd' ' <<<"$tf_vars")" ||
	fail cloudinit_terraform_vars "$(diff <(echo "$tmpl_vars") <(echo "$tf_vars"))"
n_all=$(grep -o '[$%]{' cloud-init/user-data.yaml | wc -l)
n_vars=$(grep -o '\${[a-z][a-z0-9_]*}' cloud-init/user-data.yaml | wc -l)
if [[ $n_all != "$n_vars" ]]; then
	fail cloudinit_template_syntax "$((n_all - n_vars)) \${ or %{ that are not a plain \${variable}: $(grep -n '[$%]{' cloud-init/user-data.yaml | grep -v '\${[a-z][a-z0-9_]*}')"
else
	pass cloudinit_template_syntax "only plain \${variable} interpolations ($n_vars): the raw template is cloud-config too"
fi
sub unshare --mount --net --propagation private tests/delivery/scratch-cloudinit.sh "$DEB"

# ---------------------------------------------------------------- HCL
hcl_dirs=(terraform terraform/examples/* packaging/packer)
out=$(node tests/delivery/tflint.mjs "${hcl_dirs[@]}" 2>&1)
[[ $? == 0 ]] && pass hcl_lint "$(grep -c '^ok .*: parses' <<<"$out") files parsed; $(grep '^ok .*: lint' <<<"$out" | sed 's/^ok //')" ||
	fail hcl_lint "$(grep -v '^ok ' <<<"$out")"
# terraform/README.md documents every input and output (its tables are written by hand)
missing=()
for n in $(sed -n 's/^variable "\([a-z0-9_]*\)".*/\1/p' terraform/variables.tf) \
	$(sed -n 's/^output "\([a-z0-9_]*\)".*/\1/p' terraform/outputs.tf); do
	grep -q "^| $n |" terraform/README.md || missing+=("$n")
done
((${#missing[@]} == 0)) && pass terraform_readme "every variable and output in the Inputs/Outputs tables" ||
	fail terraform_readme "not in terraform/README.md: ${missing[*]}"
# a broken copy must be rejected: IMDSv1 allowed, an undeclared variable, a syntax error
mkdir -p "$SCRATCH/tf"
cp terraform/*.tf "$SCRATCH/tf/"
sed -i 's/http_tokens *= "required"/http_tokens = "optional"/; s/var\.instance_type/var.instance_typo/' "$SCRATCH/tf/main.tf"
printf 'resource "x" "y" {\n  a = f(1\n}\n' >"$SCRATCH/tf/broken.tf"
out=$(node tests/delivery/tflint.mjs "$SCRATCH/tf" 2>&1)
if [[ $? == 1 && $out == *'http_tokens is "optional"'* && $out == *'var.instance_typo is not declared'* &&
	$out == *'broken.tf:3'* ]]; then
	pass hcl_lint_rejects "IMDSv1, undeclared var, syntax error: all caught"
else
	fail hcl_lint_rejects "$out"
fi
if command -v packer >/dev/null; then
	mkdir -p "$SCRATCH/fmt"
	for f in terraform/*.tf terraform/examples/*/*.tf packaging/packer/*.pkr.hcl; do
		cp "$f" "$SCRATCH/fmt/$(tr / _ <<<"$f").pkr.hcl"
	done
	out=$(packer fmt -check -diff "$SCRATCH/fmt" 2>&1)
	[[ $? == 0 ]] && pass hcl_fmt "packer fmt -check (hclwrite, as terraform fmt): all formatted" || fail hcl_fmt "$out"
	out=$(cd packaging/packer && packer validate -syntax-only jfe.pkr.hcl 2>&1)
	[[ $? == 0 ]] && pass packer_syntax "$out" || fail packer_syntax "$out"
	# full validate with Debian's packer 1.6.6, offline: it predates imds_support and
	# metadata_options (dropped from a copy) and needs skip_region_validation without network
	mkdir -p "$SCRATCH/pk/packer"
	awk '/^  imds_support/ { next } /^  metadata_options \{/ { skip = 1 }
		skip { if (/^  \}/) skip = 0; next }
		/^  region += var.region/ { print; print "  skip_region_validation = true"; next } { print }' \
		packaging/packer/jfe.pkr.hcl >"$SCRATCH/pk/packer/jfe.pkr.hcl"
	cp packaging/bake.sh "$SCRATCH/pk/" && cp packaging/packer/jfe.conf "$SCRATCH/pk/packer/"
	absdeb=$(realpath "$DEB")
	out=$(cd "$SCRATCH/pk/packer" && unshare --net packer validate -var "deb=$absdeb" jfe.pkr.hcl 2>&1)
	[[ $? == 0 ]] && pass packer_validate "packer 1.6.6 validate (offline, without imds_support/metadata_options): ok" ||
		fail packer_validate "$out"
else
	echo "# packer not installed: formatting and packer validate skipped"
fi

# ---------------------------------------------------------------- image bake (optional)
if [[ ${JFE_DELIVERY_ROOTFS:-0} == 1 ]]; then
	sub tests/delivery/rootfs-check.sh "$DEB"
else
	echo "# rootfs-check (debootstrap + bake, ~2 min, needs the mirror) skipped: make rootfs-check, or JFE_DELIVERY_ROOTFS=1"
fi

finish
