#!/usr/bin/env bash
# check_symbols.sh - every exported symbol of a module library carries one of
# the module's reserved prefixes (STYLE §2).
#
#   core       registry_ catalog_ gguf_ ggml_ hfcfg_ arch_ vram_ fit_ parse_ sbuf_
#              reader_ diag_ log_ hw_ render_ bench_ (catalog_builtin_ for the embedded data)
#   mountopts  mountopts_
#   cache      cache_ blob_ hub_ job_
#   fs         fs_ tree_ ctl_ cli_
#
# A helper that is not part of the interface is static; one shared between
# the files of a module takes the module's prefix too.  Symbols the compiler
# or a sanitizer adds (__asan_*, __odr_asan*, __sancov*, ...) are skipped.
#
# Usage: check_symbols.sh BUILD_DIR    (the CMake build tree holding the libraries)
set -uo pipefail
build=${1:?usage: check_symbols.sh BUILD_DIR}
nm=${NM:-nm}

declare -A prefixes=(
	[core]="registry_ catalog_ gguf_ ggml_ hfcfg_ arch_ vram_ fit_ parse_ sbuf_ reader_ diag_ log_ hw_ render_ bench_"
	[mountopts]="mountopts_"
	[cache]="cache_ blob_ hub_ job_"
	[fs]="fs_ tree_ ctl_ cli_"
)

bad=0
checked=0
for module in core mountopts cache fs; do
	lib="$build/$module/libmf_$module.a"
	if [ ! -f "$lib" ]; then
		echo "check_symbols: $lib is missing (build the project first)"
		bad=1
		continue
	fi
	re="^($(printf '%s' "${prefixes[$module]}" | sed 's/ /|/g'))"
	if ! syms=$("$nm" --defined-only -g "$lib" 2>/dev/null); then
		echo "check_symbols: $nm failed on $lib"
		bad=1
		continue
	fi
	while read -r _ type name; do
		[ -n "${name:-}" ] || continue
		case "$type" in [a-z]) continue ;; esac
		case "$name" in __asan*|__odr_asan*|__sancov*|__ubsan*|__tsan*|__msan*|__llvm*|__profc*|__profd*) continue ;; esac
		checked=$((checked + 1))
		if ! printf '%s\n' "$name" | grep -Eq "$re"; then
			echo "$module: $lib exports '$name' ($type): not one of the prefixes ${prefixes[$module]}"
			bad=1
		fi
	done < <(printf '%s\n' "$syms" | grep -E '^[0-9a-fA-F]* +[A-Za-z] ')
done

if [ "$bad" -eq 0 ]; then
	echo "check_symbols: ok ($checked exported symbols)"
fi
exit "$bad"
