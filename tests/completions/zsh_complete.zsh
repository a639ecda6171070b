# Types a command line into an interactive zsh (in a pseudo-terminal) with compinit and the
# completion functions in FPATH_DIR, presses TAB, and prints what the screen showed.
#   zsh -f tests/completions/zsh_complete.zsh FPATH_DIR 'iris-cli predict --ur'
# Keys are typed only once the prompt is up (zle drops earlier typeahead). After the TAB it
# clears the line (^U) and runs `print __DONE__`: zle handles keys in order, so once that has
# printed, the completion has been drawn. At most 10 s per wait.
zmodload zsh/zpty || exit 3
buf=""
# wait_for PATTERN: read the terminal until the output so far matches.
wait_for() {
    local chunk i
    for i in {1..200}; do
        while zpty -rt z chunk 2>/dev/null; do buf+=$chunk; done
        [[ $buf == $~1 ]] && return 0
        sleep 0.05
    done
    print -r -- "timed out waiting; screen so far: $buf" >&2
    return 1
}
zpty z zsh -f -i
zpty -w z "PS1='%% '; unsetopt zle_bracketed_paste 2>/dev/null; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; print __REA""DY__"
wait_for $'*\n__READY__*% *' || exit 1
buf=""
zpty -w -n z "$2"$'\t'$'\x15'"print __DO""NE__"$'\r'
wait_for $'*\n__DONE__*' || exit 1
print -r -- "$buf"
zpty -d z
