# zsh tests/completion/zsh-complete.zsh SCRIPT LINE
# The matches zsh's own completion system (compinit, a real zle in a pty)
# offers for LINE after a TAB, with SCRIPT (a _banger) sourced: one a line,
# sorted, without repeats.  compadd is wrapped to append what it adds to a
# file; a second command line, run once the TAB is done, marks the end.
zmodload zsh/zpty || exit 2
local d=$(mktemp -d) l i
trap 'zpty -d z 2>/dev/null; rm -rf $d' EXIT
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT=''; autoload -Uz compinit && compinit -u -d $d/zcompdump"
zpty -w z "source ${(q)1}"
zpty -w z "compadd() { local -a h; builtin compadd -O h \"\$@\"; print -rl -- \$h >>$d/hits; builtin compadd \"\$@\"; }"
zpty -w z "bindkey '^I' complete-word; zstyle ':completion:*' menu no; : >$d/ready"
for i in {1..200}; do [[ -e $d/ready ]] && break; sleep 0.05; done
zpty -w -n z "$2"$'\t'
zpty -w z $'\C-u'": >$d/done"
for i in {1..200}; do [[ -e $d/done ]] && break; zpty -r -t z l; sleep 0.05; done
[[ -e $d/done ]] || { print -u2 "zsh-complete: no answer from the pty"; exit 1; }
[[ -e $d/hits ]] && sort -u $d/hits
exit 0
