#!/bin/bash
# tests/delivery/syscall_check.sh UNIT TRACE — the system calls an `strace -f -o TRACE` of jfe
# made, checked against the SystemCallFilter= lines of UNIT, applied in order as systemd does
# (the first line is an allow-list; each later line adds calls to it, or takes them out when
# it starts with "~"), with the groups expanded by this host's `systemd-analyze syscall-filter`.
# Only the calls after the trace's last successful execve count (that of jfe itself).
# Prints the offending calls and exits 1 when there is any; prints the count otherwise.
set -u
unit=$1 trace=$2
declare -A seen=()
# expand GROUP-or-CALL… recursively, one call per line
expand() {
	local x
	for x in "$@"; do
		if [[ $x == @* ]]; then
			[[ -n ${seen[$x]:-} ]] && continue
			seen[$x]=1
			# shellcheck disable=SC2046
			expand $(systemd-analyze syscall-filter "$x" 2>/dev/null | sed 's/^ *//' | grep -v '^#\|^$\|^@[a-z-]*:*$' ; \
				systemd-analyze syscall-filter "$x" 2>/dev/null | sed -n 's/^ *\(@[a-z-]*\)$/\1/p' | grep -vx "$x")
		else
			echo "$x"
		fi
	done
}
declare -A ok=()
nlines=0
while IFS= read -r line; do
	v=${line#SystemCallFilter=}
	nlines=$((nlines + 1))
	if [[ $v == ~* ]]; then
		((nlines == 1)) && { echo "the first SystemCallFilter= of $unit is a deny-list"; exit 1; }
		read -ra w <<<"${v#\~}"
		for c in $(seen=(); expand "${w[@]}"); do unset "ok[$c]"; done
	else
		read -ra w <<<"$v"
		for c in $(seen=(); expand "${w[@]}"); do ok[$c]=1; done
	fi
done < <(grep '^SystemCallFilter=' "$unit")
((nlines)) || { echo "no SystemCallFilter= allow-list in $unit"; exit 1; }
allowed=$(printf '%s\n' "${!ok[@]}" | sort -u)
# only what follows the last successful execve: the launcher chain (chroot, setpriv) does
# what the service manager does, then execs jfe, which execs nothing
used=$(awk '{ sub(/^[0-9]+ +/, "") } /^execve\(.* = 0$/ { n = 0; delete seen; next }
	match($0, /^[a-z_0-9]+\(/) { seen[substr($0, 1, RLENGTH - 1)] = 1 }
	END { for (c in seen) print c }' "$trace" | sort -u)
# execve is the service manager's exec of jfe itself
bad=$(comm -23 <(echo "$used") <(echo "$allowed") | grep -vx 'execve' | sort -u)
if [[ -n $bad ]]; then
	echo "outside the unit's SystemCallFilter: $(paste -sd' ' <<<"$bad")"
	exit 1
fi
echo "$(wc -l <<<"$used") distinct system calls, all within SystemCallFilter ($(wc -l <<<"$allowed") allowed after $nlines lines)"
