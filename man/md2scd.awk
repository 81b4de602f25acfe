# man/md2scd.awk: docs/tree.md (the Markdown we write there) as scdoc, for
# banger-tree(7), so the man page is the document and cannot drift from it.
#   awk -f man/md2scd.awk docs/tree.md
# Handles what tree.md uses: "#" headings (the first is dropped: the page
# has its own NAME), "##"/"###" headings, paragraphs, "-" lists, fenced
# code blocks, pipe tables, `code` (bold), **bold** and [text](link).
# Anything else is refused with its line number, so a new construct in
# tree.md fails the build instead of rendering wrong.

# esc: scdoc's markup characters as literal text.
function esc(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/\*/, "\\*", s)
	gsub(/_/, "\\_", s)
	return s
}

# inline: `code` as bold, **x** as bold, [t](u) as "t (u)", the rest literal.
function inline(s,    out, i, n, parts, t) {
	while (match(s, /\[[^]]*\]\([^)]*\)/)) {
		t = substr(s, RSTART + 1, RLENGTH - 2)
		sub(/\]\(/, " (", t)
		s = substr(s, 1, RSTART - 1) t ")" substr(s, RSTART + RLENGTH)
	}
	n = split(s, parts, "`")
	if (n % 2 == 0)
		fail("unbalanced backquotes")
	out = ""
	for (i = 1; i <= n; i++) {
		if (i % 2 == 0) {
			out = out (parts[i] == "" ? "" : "*" esc(parts[i]) "*")
		} else {
			t = parts[i]
			t = esc(t)
			gsub(/\\\*\\\*/, "*", t) # **bold**: the escaped pair back to markup
			out = out t
		}
	}
	return out
}

function fail(why) {
	printf "md2scd.awk: %s:%d: %s\n", FILENAME, FNR, why > "/dev/stderr"
	failed = 1
	exit 1
}

# cells: split a table row on the pipes outside `code`; sets cell[], returns n.
function cells(line,    n, i, c, incode, cur) {
	sub(/^ *\|/, "", line)
	sub(/\| *$/, "", line)
	n = 0
	cur = ""
	incode = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (c == "`")
			incode = !incode
		if (c == "|" && !incode) {
			cell[++n] = cur
			cur = ""
		} else {
			cur = cur c
		}
	}
	cell[++n] = cur
	for (i = 1; i <= n; i++) {
		gsub(/^ +| +$/, "", cell[i])
		gsub(/\\\|/, "|", cell[i])
	}
	return n
}

function heading(s) {
	gsub(/`/, "", s)
	return s
}

BEGIN { intable = 0; incode = 0; first = 1 }

incode {
	if ($0 ~ /^```/) {
		print "```"
		incode = 0
	} else {
		print
	}
	next
}

/^```/ { print "```"; incode = 1; next }

# A table becomes a list, which reads better in a terminal than a grid:
# the first cell is the term; each other cell, unless it is "-", an
# indented paragraph led by its column's header (a two-column table: the
# cell alone).
/^\|/ {
	n = cells($0)
	if (!intable) {
		ncols = n
		intable = 1
		for (i = 1; i <= n; i++)
			head[i] = cell[i]
		next
	}
	if (n != ncols)
		fail("a table row with " n " cells, the header has " ncols)
	if ($0 ~ /^\|[ :-]*(\|[ :-]*)*\|? *$/)
		next # the |---| line
	t = inline(cell[1])
	printf "%s\n", (cell[1] ~ /`/ ? t : "*" t "*")
	sep = ""
	for (i = 2; i <= n; i++) {
		if (cell[i] == "-" || cell[i] == "")
			continue
		h = head[i]
		gsub(/`/, "", h)
		h = toupper(substr(h, 1, 1)) substr(h, 2)
		printf "%s\t%s%s\n", sep, (ncols == 2 ? "" : "_" esc(h) ":_ "), inline(cell[i])
		sep = "\n"
	}
	print ""
	next
}

intable { intable = 0 } # a table ends at its first other line

/^# / {
	if (!first)
		fail("a second top-level heading")
	first = 0
	skipblank = 1
	next
}
/^## / { sub(/^## /, ""); printf "# %s\n", toupper(heading($0)); next }
/^### / { sub(/^### /, ""); printf "## %s\n", heading($0); next }
/^#/ { fail("a heading deeper than ###") }
/^ *[-*] / { sub(/^ *[-*] /, ""); printf "- %s\n", inline($0); next }
/^ *[0-9]+\. / { fail("a numbered list") }
/^>/ { fail("a block quote") }
/^$/ { if (!skipblank) print ""; next }
{
	skipblank = 0
	sub(/^ +/, "")
	print inline($0)
}
END {
	if (!failed && incode)
		fail("an unclosed code block")
}
