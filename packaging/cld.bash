# bash completion for cld(8)
_cld() {
	local cur prev cmd
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="run status link unlink tunnel inventory update gateway mxone pm doctor dashboard-user support-bundle version help"
	case "$prev" in
	--socket | --config | --state | --cloud-ca | -o | --package | --known-hosts)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	esac
	cmd=""
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		--socket | --config) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [ -z "$cmd" ]; then
		COMPREPLY=($(compgen -W "$commands --socket --config" -- "$cur"))
		return
	fi
	case "$cmd" in
	tunnel | tunnels) COMPREPLY=($(compgen -W "list start stop start-all stop-all audit help --json --socket --config --wait" -- "$cur")) ;;
	inventory) COMPREPLY=($(compgen -W "status preview submit help --json --socket --config" -- "$cur")) ;;
	gateway) COMPREPLY=($(compgen -W "status start stop restart help --json --socket --config" -- "$cur")) ;;
	mxone) COMPREPLY=($(compgen -W "servers install enable disable uninstall local state help --all --servers --username --account --package --secrets-stdin --password-stdin --ssh-port --known-hosts --connect-timeout --json --config" -- "$cur")) ;;
	pm) COMPREPLY=($(compgen -W "status credential help --json --username --password-stdin --socket --config" -- "$cur")) ;;
	update) COMPREPLY=($(compgen -W "status check now pause resume schedule help daily weekly default --json --days --socket --config" -- "$cur")) ;;
	help) COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
	link) COMPREPLY=($(compgen -W "--username --password-stdin --account --cloud --socket --config --json" -- "$cur")) ;;
	run) COMPREPLY=($(compgen -W "--config --state --socket --cloud --cloud-ca --listen --log-level" -- "$cur")) ;;
	support-bundle) COMPREPLY=($(compgen -W "-o --socket --config" -- "$cur")) ;;
	*) COMPREPLY=($(compgen -W "--json --socket --config" -- "$cur")) ;;
	esac
}
complete -F _cld cld
