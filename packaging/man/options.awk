# packaging/man/options.awk — turns the option list of `jfe run --help` into
#   mode=man   roff for jfe(8) (".TP" entries with the short and long forms)
#   mode=conf  roff for jfe.conf(5) (the same options as options-file keys)
#   mode=file  the commented default /etc/jfe/jfe.conf
#   mode=names one long option name per line (used by the checks)
# usage: jfe run --help | awk -v mode=man -f options.awk
# A help line is "  [-x, ]--name[ ARG]  description[ (default D)]"; ARG is one upper-case
# token separated from the name by exactly one space (flags have none).
function roff(s) {
	gsub(/\\/, "\\e", s)
	if (s ~ /^[.']/) s = "\\&" s
	return s
}
function dash(s) { gsub(/-/, "\\-", s); return s }
/^options of jfe run:/ { inopts = 1; next }
!inopts { next }
{
	line = $0
	if (!match(line, /^ +(-[A-Za-z], )?--[a-z0-9-]+/)) next
	head = substr(line, RSTART, RLENGTH)
	rest = substr(line, RSTART + RLENGTH)
	short = ""
	if (match(head, /-[A-Za-z],/)) short = substr(head, RSTART, 2)
	match(head, /--[a-z0-9-]+/)
	name = substr(head, RSTART + 2, RLENGTH - 2)
	arg = ""
	if (match(rest, /^ [A-Z][A-Za-z0-9_:\[\]]*/)) {
		arg = substr(rest, 2, RLENGTH - 1)
		rest = substr(rest, RLENGTH + 1)
	}
	sub(/^ +/, "", rest)
	desc = rest
	def = ""
	if (match(desc, / \(default [^):]*\)$/)) def = substr(desc, RSTART + 10, RLENGTH - 11)
	n++
	if (mode == "names") { print name; next }
	if (mode == "man") {
		print ".TP"
		h = ""
		if (short != "") h = "\\fB" dash(short) "\\fR, "
		h = h "\\fB" dash("--" name) "\\fR"
		if (arg != "") h = h " \\fI" arg "\\fR"
		print h
		print roff(desc)
		next
	}
	if (name == "config") next   # not allowed inside the options file itself
	if (mode == "conf") {
		print ".TP"
		h = "\\fB" dash(name) "\\fR"
		if (arg != "") h = h " \\fI" arg "\\fR"
		else h = h " [\\fByes\\fR|\\fBno\\fR]"
		print h
		print roff(desc)
		next
	}
	if (mode == "file") {
		print ""
		print "# " name (arg != "" ? " " arg : "") ": " desc
		if (arg == "") print "#" name " yes"
		else if (def != "") print "#" name " " def
		else print "#" name " " arg
	}
}
END { if (n == 0) { print "options.awk: no options found in the help text" > "/dev/stderr"; exit 1 } }
