#!/usr/bin/env bash
# pick-and-serve.sh - start llama-server on the largest quant of a model
# that fits in the GPU's free memory, straight from a modelfs mount.
#
#   pick-and-serve.sh MNT FAMILY/VARIANT [--ctx N] [--vram MIB] [--dry-run] [-- SERVER_ARGS...]
#
# Free memory comes from --vram when given, else nvidia-smi, else the
# mount's hardware profile (.control/hardware gpu_vram_mib).  Each quant's
# need at the context is QUANT/vram@ctx=N when the mount has it; else an
# estimate: QUANT/info.json size_bytes plus the KV cache (from
# architecture.json, f16) plus --overhead MiB.  The script says which.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog MNT FAMILY/VARIANT [options] [-- LLAMA_SERVER_ARGS...]

Pick the largest quant of FAMILY/VARIANT in the modelfs mount MNT that fits
in the GPU's free memory, and run llama-server on it.

options:
  --ctx N          context length in tokens, or 8k, 32k, ... (default 8192)
  --vram MIB       free GPU memory in MiB (default: nvidia-smi, else the
                   mount's .control/hardware gpu_vram_mib)
  --overhead MIB   compute buffers and context, added to estimates made
                   without vram@ files (default 768)
  --server CMD     the server program (default llama-server)
  -n, --dry-run    print the command instead of running it
  -h, --help       this text

The quant's need is read from MNT/FAMILY/VARIANT/QUANT/vram@ctx=N when the
mount has such files; otherwise it is estimated from info.json size_bytes,
the KV cache of architecture.json and the overhead (jq needed for the KV
part).  When no quant fits fully, the smallest is offloaded partly
(-ngl from fit@vram= when present, else in proportion to the free memory).
The command goes to stdout; what was chosen and why goes to stderr.
EOF
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

# to_tokens 8k|8192 -> 8192
to_tokens() {
	case $1 in
	*[kK]) [[ ${1%[kK]} =~ ^[0-9]+$ ]] || return 1; echo $((${1%[kK]} * 1024)) ;;
	*) [[ $1 =~ ^[0-9]+$ ]] || return 1; echo "$1" ;;
	esac
}

mnt="" model="" ctx=8192 vram="" overhead=768 server=llama-server dry_run=0
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	-n | --dry-run) dry_run=1 ;;
	--ctx) [ $# -ge 2 ] || die "--ctx needs a value"; ctx=$(to_tokens "$2") || die "--ctx '$2' is not a number of tokens"; shift ;;
	--ctx=*) ctx=$(to_tokens "${1#*=}") || die "--ctx '${1#*=}' is not a number of tokens" ;;
	--vram) [ $# -ge 2 ] || die "--vram needs a value"; vram=$2; shift ;;
	--vram=*) vram=${1#*=} ;;
	--overhead) [ $# -ge 2 ] || die "--overhead needs a value"; overhead=$2; shift ;;
	--overhead=*) overhead=${1#*=} ;;
	--server) [ $# -ge 2 ] || die "--server needs a value"; server=$2; shift ;;
	--server=*) server=${1#*=} ;;
	--) shift; extra=("$@"); break ;;
	-*) die "unknown option '$1'; see $prog --help" ;;
	*)
		if [ -z "$mnt" ]; then mnt=$1
		elif [ -z "$model" ]; then model=$1
		else die "unexpected argument '$1'; see $prog --help"
		fi ;;
	esac
	shift
done
if [ -z "$mnt" ] || [ -z "$model" ]; then
	usage >&2
	exit 2
fi
[[ -z $vram || $vram =~ ^[0-9]+$ ]] || die "--vram '$vram' is not a number of MiB"
[[ $overhead =~ ^[0-9]+$ ]] || die "--overhead '$overhead' is not a number of MiB"
model=${model%/}
dir=$mnt/$model
[ -d "$mnt/.control" ] || die "'$mnt' is not a modelfs mount (no .control/)"
[ -d "$dir" ] || die "no model '$model' in $mnt; see $mnt/models.tsv"

# Free GPU memory, in MiB.
if [ -n "$vram" ]; then
	free=$vram
	note "free GPU memory: $free MiB (--vram)"
elif command -v nvidia-smi >/dev/null 2>&1 &&
	free=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits 2>/dev/null | awk 'NR == 1 { gsub(/ /, ""); print }') &&
	[[ $free =~ ^[0-9]+$ ]]; then
	note "free GPU memory: $free MiB (nvidia-smi)"
else
	free=$(sed -n 's/^gpu_vram_mib=\([0-9][0-9]*\)$/\1/p' "$mnt/.control/hardware" 2>/dev/null | head -n 1)
	if [ -z "$free" ] || [ "$free" -eq 0 ]; then
		die "no GPU memory known: no nvidia-smi, no gpu_vram_mib in $mnt/.control/hardware; give --vram MIB"
	fi
	note "free GPU memory: $free MiB (.control/hardware gpu_vram_mib)"
fi

# The KV cache at ctx in MiB, from architecture.json (f16 K and V), or
# nothing when jq or the fields are missing.
kv_mib() {
	command -v jq >/dev/null 2>&1 || return 1
	jq -er --argjson ctx "$ctx" '
		(.num_layers // empty) as $l
		| (.head_dim_k // .head_dim // ((.hidden_size // empty) / (.num_attention_heads // empty))) as $hk
		| (.head_dim_v // $hk) as $hv
		| (if (.num_kv_heads | type) == "array" then (.num_kv_heads | add)
		   else (.num_kv_heads // .num_attention_heads // empty) * $l end) as $heads
		| ($heads * ($hk + $hv) * $ctx * 2 / 1048576) | ceil' \
		"$dir/architecture.json" 2>/dev/null
}

layers=""
if command -v jq >/dev/null 2>&1; then
	layers=$(jq -r '.num_layers // empty' "$dir/architecture.json" 2>/dev/null || true)
fi

kv=$(kv_mib) || kv=none

# need QUANT -> "MiB SOURCE", SOURCE being vram@ or estimate
need() {
	local q=$1 v size
	if v=$(cat "$dir/$q/vram@ctx=$ctx" 2>/dev/null) && [[ $v =~ ^[0-9]+$ ]]; then
		echo "$v vram@"
		return
	fi
	size=""
	if command -v jq >/dev/null 2>&1; then
		size=$(jq -r '.size_bytes // empty' "$dir/$q/info.json" 2>/dev/null || true)
	fi
	if [ -z "$size" ]; then
		size=$(sed -n 's/^size_bytes=\([0-9][0-9]*\)$/\1/p' "$dir/$q/status" 2>/dev/null | head -n 1)
	fi
	[ -n "$size" ] || return 1
	if [ "$kv" = none ]; then
		echo "$(( (size + 1048575) / 1048576 + size / 1048576 / 5 + overhead )) estimate"
	else
		echo "$(( (size + 1048575) / 1048576 + kv + overhead )) estimate"
	fi
}

quants=()
for d in "$dir"/*/; do
	[ -d "$d" ] || continue
	q=${d%/}
	quants+=("${q##*/}")
done
[ ${#quants[@]} -gt 0 ] || die "'$model' has no quants in $mnt"

best="" best_need=0 smallest="" smallest_need=0 sources=""
table=()
for q in "${quants[@]}"; do
	if ! r=$(need "$q"); then
		note "$q: no size known (no vram@ctx=$ctx, no size_bytes); skipped"
		continue
	fi
	n=${r% *}
	src=${r#* }
	case " $sources " in *" $src "*) ;; *) sources="$sources $src" ;; esac
	fits=no
	if [ "$n" -le "$free" ]; then
		fits=yes
		if [ -z "$best" ] || [ "$n" -gt "$best_need" ]; then
			best=$q best_need=$n
		fi
	fi
	if [ -z "$smallest" ] || [ "$n" -lt "$smallest_need" ]; then
		smallest=$q smallest_need=$n
	fi
	table+=("$(printf '%s: %-12s %10s  %s' "$prog" "$q" "$n" "$fits")")
done
[ -n "$smallest" ] || die "no quant of '$model' has a known size"
printf '%s: %-12s %10s  %s\n' "$prog" quant "MiB@$ctx" fits >&2
printf '%s\n' "${table[@]}" | sort -n -k3,3 >&2

case $sources in
" vram@") note "needs from vram@ctx=$ctx files" ;;
*vram@*) note "needs from vram@ctx=$ctx files where present, else estimated" ;;
*)
	if [ "$kv" = none ]; then
		note "no vram@ctx= files in this mount: estimated as info.json size_bytes + 20% + $overhead MiB (no KV cache size: architecture.json or jq missing)"
	else
		note "no vram@ctx= files in this mount: estimated as info.json size_bytes + KV cache ${kv} MiB (architecture.json, f16) + $overhead MiB"
	fi ;;
esac

if [ -n "$best" ]; then
	pick=$best
	ngl=$(( ${layers:-998} + 1 ))
	note "picked $pick: the largest that fits ($best_need of $free MiB), all layers on the GPU"
else
	pick=$smallest
	ngl=""
	fit=$(cat "$dir/$pick/fit@vram=${free},ctx=$ctx" 2>/dev/null || true)
	if [ -n "$fit" ]; then
		ngl=$(printf '%s\n' "$fit" | sed -n 's/^ngl=\([0-9][0-9]*\)$/\1/p' | head -n 1)
	fi
	if [ -n "$ngl" ]; then
		note "nothing fits fully; $pick offloaded partly: -ngl $ngl (fit@vram=$free,ctx=$ctx)"
	else
		[ -n "$layers" ] || layers=32
		avail=$(( free > overhead ? free - overhead : 0 ))
		ngl=$(( layers * avail / (smallest_need > overhead ? smallest_need - overhead : 1) ))
		note "nothing fits fully; $pick offloaded partly: -ngl $ngl of $layers layers, in proportion to free memory"
	fi
fi

qdir=$dir/$pick
gguf=$qdir/model.gguf
if [ ! -e "$gguf" ]; then
	for f in "$qdir"/model-00001-of-*.gguf; do
		[ -e "$f" ] && gguf=$f && break
	done
fi
[ -e "$gguf" ] || note "note: $gguf does not exist; is $mnt a modelfs mount?"

cmd=("$server" -m "$gguf" -c "$ctx" -ngl "$ngl" "${extra[@]}")
if [ "$dry_run" -eq 1 ]; then
	printf '%q' "${cmd[0]}"
	printf ' %q' "${cmd[@]:1}"
	printf '\n'
	exit 0
fi
command -v "$server" >/dev/null 2>&1 || die "'$server' is not on PATH; install llama.cpp, give --server, or use --dry-run"
exec "${cmd[@]}"
