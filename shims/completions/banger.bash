# bash completion for banger (docs/install.md).
#   eval "$(banger completion bash)"    # this shell
# make install puts it in .../bash-completion/completions/banger.
# The words come from the banger being completed: `banger __complete WORD...`
# answers from its command table, with VM, image and kernel names read from
# the tree ($BANGER_FS, default /run/banger/fs).  Nothing here lists commands.

_banger() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[0]} line
	COMPREPLY=()
	# a typed ~/... path is not expanded in COMP_WORDS
	# shellcheck disable=SC2088
	case $cmd in "~/"*) cmd=$HOME/${cmd#"~/"} ;; esac
	while IFS= read -r line; do
		case $line in
		:files | :dirs)
			compopt -o filenames 2>/dev/null
			mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen "-${line:1:1}" -- "$cur")
			;;
		?*) COMPREPLY+=("${line%%$'\t'*}") ;;
		esac
	done < <(command "$cmd" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
	return 0
}

complete -F _banger banger
