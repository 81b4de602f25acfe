# fish completion for banger (docs/install.md).
#   banger completion fish | source    # this shell
# make install puts it in .../fish/vendor_completions.d/banger.fish.
# The words come from the banger being completed: `banger __complete WORD...`
# answers from its command table, with VM, image and kernel names read from
# the tree ($BANGER_FS, default /run/banger/fs).  Nothing here lists commands.

function __banger_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    for line in (command $words[1] __complete $words[2..-1] "$cur" 2>/dev/null)
        switch $line
            case :files
                __fish_complete_path "$cur"
            case :dirs
                __fish_complete_directories "$cur"
            case '*'
                echo $line
        end
    end
end

complete -c banger -f -a '(__banger_complete)'
