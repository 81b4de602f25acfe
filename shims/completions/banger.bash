# bash completion for banger.
#   eval "$(banger completion bash)"            # this shell
#   banger completion bash > /etc/bash_completion.d/banger
# Commands come from the list below; VM, image and kernel names from the
# control tree ($BANGER_FS, default /run/banger/fs).

_banger_names() { # _banger_names vms|images|kernels
	local d n
	d=${BANGER_FS:-/run/banger/fs}/$1
	[ -d "$d" ] || return 0
	for n in "$d"/*/; do
		[ -d "$n" ] || continue
		n=${n%/}
		printf '%s\n' "${n##*/}"
	done
}

_banger_reply() { # _banger_reply WORDS: complete the current word from WORDS
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "${COMP_WORDS[COMP_CWORD]}")
}

_banger() {
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		_banger_reply 'vm image kernel doctor completion help --help --version'
		return 0
	fi
	case ${COMP_WORDS[1]} in
	vm)
		if [ "$COMP_CWORD" -eq 2 ]; then
			_banger_reply 'create run ssh start stop kill restart delete prune list show logs'
			return 0
		fi
		case $prev in
		--image) _banger_reply "$(_banger_names images)"; return 0 ;;
		--kernel) _banger_reply "$(_banger_names kernels)"; return 0 ;;
		--vcpu | --memory | --disk | --name) return 0 ;;
		--) return 0 ;;
		esac
		case ${COMP_WORDS[2]} in
		create) _banger_reply '--image --kernel --vcpu --memory --disk --help' ;;
		run) _banger_reply '--name --image --kernel --vcpu --memory --disk --rm --help' ;;
		start | stop | kill | restart | show | ssh) _banger_reply "$(_banger_names vms) --help" ;;
		prune) _banger_reply '--dry-run --help' ;;
		delete) _banger_reply "$(_banger_names vms) --force --help" ;;
		logs) _banger_reply "$(_banger_names vms) -f --help" ;;
		list) _banger_reply '--quiet --help' ;;
		esac
		;;
	image)
		if [ "$COMP_CWORD" -eq 2 ]; then
			_banger_reply 'list build --help'
		elif [ "${COMP_WORDS[2]}" = build ] && [ "$COMP_CWORD" -eq 3 ]; then
			_banger_reply 'debian-bookworm debian-bookworm-mini --help'
		fi
		;;
	kernel)
		[ "$COMP_CWORD" -eq 2 ] && _banger_reply 'list --help'
		;;
	completion)
		[ "$COMP_CWORD" -eq 2 ] && _banger_reply 'bash zsh fish'
		;;
	esac
	return 0
}

complete -F _banger banger
