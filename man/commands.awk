# man/commands.awk: the COMMANDS table of shims/banger as scdoc, for
# banger(1): one entry per command (usage, what it does, the same in the
# tree), under a heading per group.  Every command of the shim is in the
# page because the page is made from its table.
#   awk -f man/commands.awk shims/banger
function esc(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/\*/, "\\*", s)
	gsub(/_/, "\\_", s)
	return s
}
/^COMMANDS='/ { intable = 1; sub(/^COMMANDS='/, "") }
intable {
	last = ($0 ~ /'$/)
	if (last)
		sub(/'$/, "")
	n = split($0, f, "|")
	if (n != 4) {
		printf "commands.awk: line %d of the table has %d columns, not 4\n", NR, n > "/dev/stderr"
		bad = 1
		exit 1
	}
	group = f[1]
	sub(/ .*/, "", group)
	if (group != lastgroup) {
		printf "## %s\n\n", group
		lastgroup = group
	}
	printf "*banger %s*%s\n", esc(f[1]), f[2] == "" ? "" : " " esc(f[2])
	printf "\t%s.\n\n", esc(f[3])
	if (f[4] ~ /^\(.*\)$/)
		printf "\t%s\n\n", esc(f[4])
	else
		printf "\tIn the tree: %s\n\n", esc(f[4])
	count++
	if (last)
		intable = 0
}
END {
	if (!bad && count == 0) {
		print "commands.awk: no COMMANDS table found" > "/dev/stderr"
		exit 1
	}
}
