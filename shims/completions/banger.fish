# fish completion for banger.
#   banger completion fish | source                                  # this shell
#   banger completion fish > ~/.config/fish/completions/banger.fish  # every shell
# VM, image and kernel names come from the control tree ($BANGER_FS,
# default /run/banger/fs).

function __banger_names --argument-names kind
    set -l root /run/banger/fs
    set -q BANGER_FS; and set root $BANGER_FS
    for d in $root/$kind/*/
        basename $d
    end
end

set -l vmcmds create run ssh start stop kill restart delete prune list show logs

complete -c banger -f
complete -c banger -n __fish_use_subcommand -a vm -d 'create, run and delete VMs'
complete -c banger -n __fish_use_subcommand -a image -d 'list and build images'
complete -c banger -n __fish_use_subcommand -a kernel -d 'list kernels'
complete -c banger -n __fish_use_subcommand -a doctor -d 'check the host'
complete -c banger -n __fish_use_subcommand -a completion -d 'print a completion script'
complete -c banger -n __fish_use_subcommand -a help -d 'show usage'
complete -c banger -n __fish_use_subcommand -l version -d 'print the version'
complete -c banger -l help -d 'show usage'

complete -c banger -n "__fish_seen_subcommand_from vm; and not __fish_seen_subcommand_from $vmcmds" -a "$vmcmds"
complete -c banger -n "__fish_seen_subcommand_from start stop kill restart delete show logs ssh" -a '(__banger_names vms)' -d VM
complete -c banger -n "__fish_seen_subcommand_from create run" -l image -x -a '(__banger_names images)' -d 'root image'
complete -c banger -n "__fish_seen_subcommand_from create run" -l kernel -x -a '(__banger_names kernels)' -d 'kernel bundle'
complete -c banger -n "__fish_seen_subcommand_from create run" -l vcpu -x -d 'vCPUs'
complete -c banger -n "__fish_seen_subcommand_from create run" -l memory -x -d 'memory in MiB'
complete -c banger -n "__fish_seen_subcommand_from create run" -l disk -x -d 'work disk size, e.g. 8G'
complete -c banger -n "__fish_seen_subcommand_from run" -l name -x -d 'VM name (default sandbox-WORD)'
complete -c banger -n "__fish_seen_subcommand_from run" -l rm -d 'delete the VM when the command or session ends'
complete -c banger -n "__fish_seen_subcommand_from prune" -s n -l dry-run -d 'only print what would be deleted'
complete -c banger -n "__fish_seen_subcommand_from delete" -l force -d 'kill a running VM first'
complete -c banger -n "__fish_seen_subcommand_from logs" -s f -d 'follow while the VM runs'
complete -c banger -n "__fish_seen_subcommand_from list" -l quiet -d 'names only'
complete -c banger -n "__fish_seen_subcommand_from image kernel; and not __fish_seen_subcommand_from list build" -a list
complete -c banger -n "__fish_seen_subcommand_from image; and not __fish_seen_subcommand_from list build" -a build -d 'build and register an image'
complete -c banger -n "__fish_seen_subcommand_from build" -a 'debian-bookworm debian-bookworm-mini'
complete -c banger -n "__fish_seen_subcommand_from completion" -a 'bash zsh fish'
