# bash completion for modelfs(1)                          -*- shell-script -*-
#
# Installed as share/bash-completion/completions/modelfs, where
# bash-completion loads it the first time `modelfs` is completed; or
# source it from ~/.bashrc.  It needs nothing from bash-completion.
#
#   modelfs <TAB>                  subcommands, options, directories
#   modelfs ~/models -o <TAB>      mount option names, with '=' when they take a value
#   modelfs ~/models -o verify=<TAB>, gpu_vram=<TAB>, state=<TAB> ...   values, paths
#   modelfs estimate F.gguf --kv <TAB> ...                              values
#
# Inside a mounted registry, file names are completed with parameterized
# names too: in a QUANT directory `vram@ctx=<TAB>` offers 4096 8192 16384
# 32768 65536 131072 max, and `fit@vram=<TAB>` offers 8G 12G 16G 24G 48G
# 80G.  That works for cat, head, tail and less, whose completion this file
# sets to "files, plus these names" (set MODELFS_COMPLETE_READERS=0 before
# loading to leave those four alone).  bash-completion loads this file on
# the first `modelfs <TAB>`; source it from ~/.bashrc to have the readers
# from the start.

_modelfs_ctx_values=(4096 8192 16384 32768 65536 131072 max)
_modelfs_vram_values=(8G 12G 16G 24G 48G 80G)
_modelfs_kv_types=(f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0 iq4_nl)

# The mount options: ours (SPEC section 2), then libfuse's usual ones.
_modelfs_mount_opts=(state= cache= cache_max= hf_cache= endpoint= token_file= offline
	catalog= gpu_vram= gpu_bandwidth= ram_bandwidth= bench_cmd= connections= chunk=
	readahead= verify= allow_other allow_root default_permissions auto_unmount fsname=
	subtype= kernel_cache auto_cache max_read= max_threads= max_idle_threads= clone_fd
	umask= uid= gid= entry_timeout= attr_timeout= negative_timeout= ro noatime)

# _modelfs_cur: the word being completed, from the last unquoted blank
# before the cursor (bash splits words at '=' and ':' too; we do not).
_modelfs_cur() {
	local line=${COMP_LINE:0:COMP_POINT}
	_modelfs_word=${line##*[[:blank:]]}
}

# _modelfs_reply PREFIX CANDIDATE...: set COMPREPLY to the candidates that
# start with the current word, each cut to what bash replaces (the part after
# the last COMP_WORDBREAKS character of the word).
_modelfs_reply() {
	local cur=$_modelfs_word c keep="" i ch
	for ((i = ${#cur} - 1; i >= 0; i--)); do
		ch=${cur:i:1}
		if [[ $COMP_WORDBREAKS == *"$ch"* ]]; then
			keep=${cur:0:i+1}
			break
		fi
	done
	COMPREPLY=()
	for c in "$@"; do
		[[ $c == "$cur"* ]] && COMPREPLY+=("${c#"$keep"}")
	done
}

# _modelfs_is_quant_dir DIR: true when DIR is a QUANT directory of a
# mounted registry (it has status and info.json, and its parent has
# architecture.json).
_modelfs_is_quant_dir() {
	[[ -f $1/status && -f $1/info.json && -f $1/../architecture.json ]]
}

# _modelfs_param_names: when the current word's directory is a QUANT
# directory, sets _modelfs_params (the caller's local) to the parameterized
# names the word may grow into, and succeeds.
_modelfs_param_names() {
	local cur=$_modelfs_word dir base v
	if [[ $cur == */* ]]; then
		dir=${cur%/*}
		base=${cur##*/}
		[[ -z $dir ]] && dir=/
	else
		dir=.
		base=$cur
	fi
	local edir=$dir
	[[ $edir == "~"* ]] && edir=$HOME${edir:1}
	_modelfs_is_quant_dir "$edir" || return 1
	local pre=${cur%"$base"}
	_modelfs_params=()
	case $base in
	vram@ctx=*)
		for v in "${_modelfs_ctx_values[@]}"; do _modelfs_params+=("${pre}vram@ctx=$v"); done ;;
	fit@vram=*)
		for v in "${_modelfs_vram_values[@]}"; do _modelfs_params+=("${pre}fit@vram=$v"); done ;;
	*)
		_modelfs_params=("${pre}vram@ctx=" "${pre}fit@vram=") ;;
	esac
	return 0
}

# _modelfs_files [GLOB [PARAMS]]: file names (directories always, other
# files when they match GLOB), plus the parameterized names in a QUANT
# directory of a mount unless PARAMS is "no".
_modelfs_files() {
	local cur=$_modelfs_word f
	local -a found=() keep=() _modelfs_params=()
	mapfile -t found < <(compgen -f -- "$cur")
	for f in "${found[@]}"; do
		# shellcheck disable=SC2053 # $1 is a glob
		if [[ -d $f || -z ${1:-} || $f == $1 ]]; then
			keep+=("$f")
		fi
	done
	COMPREPLY=()
	if [[ ${2:-} != no ]] && _modelfs_param_names; then
		# Names here hold '@' and '=', which -o filenames would quote with
		# backslashes; none holds a blank, so plain words do.
		local -A seen=()
		local -a all=()
		for f in "${keep[@]}" "${_modelfs_params[@]}"; do
			[[ -n ${seen[$f]:-} ]] && continue
			seen[$f]=1
			all+=("$f")
		done
		_modelfs_reply "${all[@]}"
		for f in "${COMPREPLY[@]}"; do
			[[ $f == *= ]] && compopt -o nospace 2>/dev/null
		done
	else
		((${#keep[@]})) && _modelfs_reply "${keep[@]}"
		compopt -o filenames 2>/dev/null
	fi
	return 0
}

_modelfs_dirs() {
	local cur=$_modelfs_word IFS=$'\n'
	mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	compopt -o filenames 2>/dev/null
}

# Completion of one -o word: "a,b,na<TAB>" completes the last item.
_modelfs_o_word() {
	local cur=$_modelfs_word head item name v IFS=$' \t\n'
	local -a cands=()
	head=""
	item=$cur
	if [[ $cur == *,* ]]; then
		head=${cur%,*},
		item=${cur##*,}
	fi
	if [[ $item == *=* ]]; then
		name=${item%%=*}
		local val=${item#*=}
		case $name in
		state | cache | hf_cache | token_file | catalog)
			local IFS=$'\n' f
			[[ $name == catalog ]] && cands+=("${head}catalog=builtin" "${head}catalog=none")
			for f in $(compgen -f -- "$val"); do
				[[ -d $f ]] && f=$f/
				cands+=("$head$name=$f")
			done
			IFS=$' \t\n'
			compopt -o nospace 2>/dev/null ;;
		verify) for v in lazy strict; do cands+=("${head}verify=$v"); done ;;
		gpu_vram) for v in "${_modelfs_vram_values[@]}"; do cands+=("${head}gpu_vram=$v"); done ;;
		cache_max) for v in 50G 100G 200G 500G 1T; do cands+=("${head}cache_max=$v"); done ;;
		gpu_bandwidth | ram_bandwidth) for v in 50 100 500 900 1000 2000; do cands+=("$head$name=$v"); done ;;
		connections) for v in 1 2 4 8 16; do cands+=("${head}connections=$v"); done ;;
		chunk) for v in 4M 8M 16M 32M; do cands+=("${head}chunk=$v"); done ;;
		readahead) for v in 0 16M 64M 256M; do cands+=("${head}readahead=$v"); done ;;
		endpoint) cands+=("${head}endpoint=https://huggingface.co") ;;
		bench_cmd) cands+=("${head}bench_cmd=llama-bench -m {model} -p 512 -n 128 -r 3 -o json") ;;
		esac
	else
		for v in "${_modelfs_mount_opts[@]}"; do cands+=("$head$v"); done
		compopt -o nospace 2>/dev/null
	fi
	_modelfs_reply "${cands[@]}"
	compopt -o nospace 2>/dev/null
}

_modelfs() {
	local i w sub="" prev
	_modelfs_cur
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	# Bash splits "-o a=b" into "-o" "a" "=" "b": find the word before the
	# current blank-separated word.
	local line=${COMP_LINE:0:COMP_POINT}
	line=${line%"$_modelfs_word"}
	line=${line%"${line##*[![:blank:]]}"}
	prev=${line##*[[:blank:]]}

	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		inspect | estimate | jobs) sub=$w; break ;;
		-*) ;;
		*) break ;;
		esac
	done

	case $sub in
	inspect)
		case $_modelfs_word in
		-*) _modelfs_reply --json ;;
		*) _modelfs_files '*.gguf' no ;;
		esac
		return 0 ;;
	estimate)
		case $prev in
		--ctx) _modelfs_reply "${_modelfs_ctx_values[@]}"; return 0 ;;
		--kv) _modelfs_reply "${_modelfs_kv_types[@]}"; return 0 ;;
		--fa) _modelfs_reply on off; return 0 ;;
		--ngl) _modelfs_reply all 0 8 16 24 32 48 64 80 99; return 0 ;;
		esac
		case $_modelfs_word in
		-*) _modelfs_reply --ctx --kv --fa --ngl --json ;;
		*) _modelfs_files '*.gguf' no ;;
		esac
		return 0 ;;
	jobs)
		case $_modelfs_word in
		-*) _modelfs_reply --follow ;;
		*) _modelfs_dirs ;;
		esac
		return 0 ;;
	esac

	if [[ $prev == -o ]]; then
		_modelfs_o_word
		return 0
	fi
	case $_modelfs_word in
	-o?*)
		local word=$_modelfs_word
		_modelfs_word=${word#-o}
		_modelfs_o_word
		_modelfs_word=$word
		return 0 ;;
	-*)
		_modelfs_reply -f -d -s -o -h --help -V --version
		return 0 ;;
	esac
	if ((COMP_CWORD == 1)); then
		_modelfs_reply inspect estimate jobs
		local -a subs=("${COMPREPLY[@]}")
		_modelfs_dirs
		COMPREPLY=("${subs[@]}" "${COMPREPLY[@]}")
		return 0
	fi
	_modelfs_dirs
	return 0
}

# cat, head, tail, less: file names plus parameterized names in a mount.
_modelfs_reader() {
	_modelfs_cur
	case $_modelfs_word in
	-*) COMPREPLY=(); compopt -o default 2>/dev/null; return 0 ;;
	esac
	_modelfs_files
}

complete -F _modelfs modelfs
if [[ ${MODELFS_COMPLETE_READERS:-1} != 0 ]]; then
	complete -F _modelfs_reader cat head tail less
fi
