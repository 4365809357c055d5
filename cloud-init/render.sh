#!/bin/bash
# shellcheck disable=SC2016  # the ${name} patterns are literal
# cloud-init/render.sh — fill the variables of cloud-init/user-data.yaml by hand, the way
# terraform's templatefile() does, for operators who do not use terraform/.
#
# usage: cloud-init/render.sh [-t TEMPLATE] [-f VARS_FILE] [NAME=VALUE…] > user-data.yaml
#   -t TEMPLATE   default: user-data.yaml next to this script
#   -f VARS_FILE  NAME=VALUE lines ('#' comments); later NAME=VALUE arguments override them
# Every variable the template uses must be given (an empty value is fine). Values may not
# contain quotes, backslashes, '$', '`' or newlines. Exits 2 on a missing, unknown or bad
# variable, printing nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmpl=$here/user-data.yaml
declare -A val=()
setvar() {
	local n=${1%%=*} v=${1#*=}
	[[ $1 == *=* && $n =~ ^[a-z][a-z0-9_]*$ ]] || { echo "render.sh: bad assignment '$1'" >&2; exit 2; }
	if [[ $v =~ [\'\"\\\$\`] || $v == *$'\n'* ]]; then
		echo "render.sh: $n: quotes, backslashes, \$, \` and newlines are not allowed" >&2
		exit 2
	fi
	val[$n]=$v
}
while (($#)); do
	case $1 in
	-t) tmpl=$2; shift ;;
	-f) while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		setvar "$line"
	    done <"$2"
	    shift ;;
	-h | --help) sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*=*) setvar "$1" ;;
	*) echo "render.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
mapfile -t used < <(grep -o '\${[a-z][a-z0-9_]*}' "$tmpl" | sort -u | sed 's/^\${\(.*\)}$/\1/')
for n in "${used[@]}"; do
	[[ -v val[$n] ]] || { echo "render.sh: variable $n is not set" >&2; exit 2; }
done
for n in "${!val[@]}"; do
	printf '%s\n' "${used[@]}" | grep -qx "$n" || { echo "render.sh: $n is not a variable of $tmpl" >&2; exit 2; }
done
out=$(<"$tmpl")
for n in "${used[@]}"; do out=${out//"\${$n}"/"${val[$n]}"}; done
# templatefile() escapes: $${ is a literal ${, %%{ a literal %{
out=${out//'$${'/'${'}
out=${out//'%%{'/'%{'}
# say where it comes from, after the #cloud-config line
printf '%s\n' "${out%%$'\n'*}" "# Rendered by cloud-init/render.sh from cloud-init/user-data.yaml." "${out#*$'\n'}"
