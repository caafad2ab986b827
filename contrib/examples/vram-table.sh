#!/usr/bin/env bash
# vram-table.sh - a table of the VRAM a model's quants need, by context
# length, from a modelfs mount.
#
#   vram-table.sh MNT FAMILY/VARIANT [--ctx LIST] [--tsv]
#
# Each cell is QUANT/vram@ctx=N (MiB) when the mount has such files; else
# an estimate: QUANT/info.json size_bytes plus the KV cache (from
# architecture.json, f16) plus --overhead MiB.  The first line says which.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog MNT FAMILY/VARIANT [options]

Print the VRAM (MiB) that each quant of FAMILY/VARIANT in the modelfs mount
MNT needs, for context lengths from 4k to 128k.

options:
  --ctx LIST       comma-separated contexts, tokens or 8k-style
                   (default 4k,8k,16k,32k,64k,128k)
  --overhead MIB   compute buffers and context, added to estimates made
                   without vram@ files (default 768)
  --tsv            tab-separated output with a header line, no comment line
  -h, --help       this text

A cell is MNT/FAMILY/VARIANT/QUANT/vram@ctx=N when the mount has such files;
otherwise it is estimated from info.json size_bytes, the KV cache of
architecture.json (f16; needs jq) and the overhead, and marked so.  Quants
are listed smallest first.
EOF
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

to_tokens() {
	case $1 in
	*[kK]) [[ ${1%[kK]} =~ ^[0-9]+$ ]] || return 1; echo $((${1%[kK]} * 1024)) ;;
	*) [[ $1 =~ ^[0-9]+$ ]] || return 1; echo "$1" ;;
	esac
}

# label 8192 -> 8k, 1000 -> 1000
label() {
	if [ $(($1 % 1024)) -eq 0 ]; then echo "$(($1 / 1024))k"; else echo "$1"; fi
}

mnt="" model="" ctx_list="4k,8k,16k,32k,64k,128k" overhead=768 tsv=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--ctx) [ $# -ge 2 ] || die "--ctx needs a value"; ctx_list=$2; shift ;;
	--ctx=*) ctx_list=${1#*=} ;;
	--overhead) [ $# -ge 2 ] || die "--overhead needs a value"; overhead=$2; shift ;;
	--overhead=*) overhead=${1#*=} ;;
	--tsv) tsv=1 ;;
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
[[ $overhead =~ ^[0-9]+$ ]] || die "--overhead '$overhead' is not a number of MiB"
model=${model%/}
dir=$mnt/$model
[ -d "$mnt/.control" ] || die "'$mnt' is not a modelfs mount (no .control/)"
[ -d "$dir" ] || die "no model '$model' in $mnt; see $mnt/models.tsv"

ctxs=()
IFS=, read -r -a items <<<"$ctx_list"
for c in "${items[@]}"; do
	t=$(to_tokens "$c") || die "--ctx: '$c' is not a number of tokens"
	ctxs+=("$t")
done
[ ${#ctxs[@]} -gt 0 ] || die "--ctx: no context given"

have_jq=0
command -v jq >/dev/null 2>&1 && have_jq=1

# KV bytes per token (f16 K and V over every layer), or nothing.
kv_per_token=""
if [ "$have_jq" -eq 1 ]; then
	kv_per_token=$(jq -er '
		(.num_layers // empty) as $l
		| (.head_dim_k // .head_dim // ((.hidden_size // empty) / (.num_attention_heads // empty))) as $hk
		| (.head_dim_v // $hk) as $hv
		| (if (.num_kv_heads | type) == "array" then (.num_kv_heads | add)
		   else (.num_kv_heads // .num_attention_heads // empty) * $l end) as $heads
		| ($heads * ($hk + $hv) * 2) | floor' "$dir/architecture.json" 2>/dev/null) || kv_per_token=""
fi

size_of() {
	local q=$1 size=""
	if [ "$have_jq" -eq 1 ]; then
		size=$(jq -r '.size_bytes // empty' "$dir/$q/info.json" 2>/dev/null || true)
	fi
	if [ -z "$size" ]; then
		size=$(sed -n 's/^size_bytes=\([0-9][0-9]*\)$/\1/p' "$dir/$q/status" 2>/dev/null | head -n 1)
	fi
	echo "$size"
}

# Quants, smallest first.
rows=()
for d in "$dir"/*/; do
	[ -d "$d" ] || continue
	q=${d%/}
	q=${q##*/}
	s=$(size_of "$q")
	rows+=("${s:-0} $q")
done
[ ${#rows[@]} -gt 0 ] || die "'$model' has no quants in $mnt"
mapfile -t rows < <(printf '%s\n' "${rows[@]}" | sort -n -k1,1 -k2,2)

measured=0 estimated=0
cells=()
for r in "${rows[@]}"; do
	size=${r%% *}
	q=${r#* }
	line=$q
	for c in "${ctxs[@]}"; do
		if v=$(cat "$dir/$q/vram@ctx=$c" 2>/dev/null) && [[ $v =~ ^[0-9]+$ ]]; then
			measured=1
		elif [ "$size" -gt 0 ]; then
			estimated=1
			w=$(( (size + 1048575) / 1048576 ))
			if [ -n "$kv_per_token" ]; then
				v=$(( w + (kv_per_token * c + 1048575) / 1048576 + overhead ))
			else
				v=$(( w + w / 5 + overhead ))
			fi
		else
			v=-
		fi
		line="$line $v"
	done
	cells+=("$line")
done

if [ "$tsv" -eq 0 ]; then
	if [ "$estimated" -eq 0 ]; then
		echo "# $model: VRAM in MiB by context, from vram@ctx= files (f16 KV, all layers on the GPU)"
	else
		how="info.json size_bytes + "
		if [ -n "$kv_per_token" ]; then
			how="${how}KV cache (architecture.json, f16) + $overhead MiB"
		else
			how="${how}20% + $overhead MiB (KV cache unknown: architecture.json or jq missing)"
		fi
		if [ "$measured" -eq 1 ]; then
			echo "# $model: VRAM in MiB by context, from vram@ctx= files where present, else estimated: $how"
		else
			echo "# $model: VRAM in MiB by context, estimated (no vram@ctx= files in this mount): $how"
		fi
	fi
fi

header=quant
for c in "${ctxs[@]}"; do header="$header $(label "$c")"; done
if [ "$tsv" -eq 1 ]; then
	printf '%s\n' "$header" "${cells[@]}" | tr ' ' '\t'
else
	printf '%s\n' "$header" "${cells[@]}" |
		awk '{ printf "%-12s", $1; for (i = 2; i <= NF; i++) printf " %8s", $i; printf "\n" }'
fi
