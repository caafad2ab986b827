#!/usr/bin/env bash
# check_headers.sh - each public header compiles on its own (STYLE §5).
#
# For every module header, a translation unit holding only that header,
# included twice, must compile without a warning; its guard is
# MODELFS_<MODULE>_H.  The include flags are the libraries' pkg-config
# flags and the module directories, the definitions those the build gives
# (FUSE_USE_VERSION, _GNU_SOURCE), so a header that leans on an include
# its user happened to make first fails here.
#
# Usage: check_headers.sh [REPO_DIR]    (CC overrides the compiler)
set -uo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$repo" || exit 2
cc=${CC:-cc}

headers="core/core.h mountopts/mountopts.h cache/cache.h fs/fs.h"
pkgs="fuse3 libcurl jansson sqlite3 libcrypto"
if ! pc=$(pkg-config --cflags $pkgs); then
	echo "check_headers: pkg-config --cflags $pkgs failed" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad=0
for h in $headers; do
	if [ ! -f "$h" ]; then
		echo "$h: missing"
		bad=1
		continue
	fi
	module=$(dirname "$h")
	guard="MODELFS_$(printf '%s' "$module" | tr '[:lower:]' '[:upper:]')_H"
	if ! grep -Eq "^#ifndef $guard\$" "$h" || ! grep -Eq "^#define $guard\$" "$h"; then
		echo "$h: include guard is not $guard"
		bad=1
	fi
	printf '#include "%s"\n#include "%s"\n' "$(basename "$h")" "$(basename "$h")" > "$tmp/alone.c"
	# shellcheck disable=SC2086
	if ! out=$("$cc" -std=gnu11 -fsyntax-only -Wall -Wextra -Wstrict-prototypes \
		-Wmissing-prototypes -Werror -D_GNU_SOURCE -DFUSE_USE_VERSION=314 \
		-Icore -Imountopts -Icache -Ifs $pc "$tmp/alone.c" -I"$module" 2>&1); then
		echo "$h: does not compile on its own:"
		printf "%s\n" "$out" | head -n 20 | sed "s/^/    /"
		bad=1
	fi
done

if [ "$bad" -eq 0 ]; then
	echo "check_headers: ok ($headers)"
fi
exit "$bad"
