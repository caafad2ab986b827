#!/usr/bin/env bash
# check_layers.sh - the one-way dependency rule of STYLE §1, from #include lines.
#
#   core       includes no FUSE, curl or OpenSSL header and no other module's header
#   mountopts  includes only <fuse_opt.h> from libfuse; never cache.h, fs.h or curl
#   cache      never includes a FUSE header, mountopts.h or fs.h
#   fs.h       is included only from fs/ and tests/
#   X_int.h    (a module's private header) only from the directory that holds it
#
# Usage: check_layers.sh [REPO_DIR]    Exit 0 when clean, 1 with one line per violation.
set -uo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$repo" || exit 2

bad=0
violation() { printf '%s\n' "$*"; bad=1; }

# includes FILE: the header named by each #include line of FILE.
includes() {
	sed -n 's%^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*%\1%p' "$1"
}

sources() { find "$@" -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort; }

check_dir() {
	local dir=$1 forbid=$2 why=$3 f h
	for f in $(sources "$dir"); do
		while IFS= read -r h; do
			if printf '%s\n' "$h" | grep -Eq "$forbid"; then
				violation "$f: includes <$h>: $why"
			fi
		done < <(includes "$f")
	done
}

# libfuse's headers: fuse*.h or cuse*.h, bare or under fuse3/.
fuse_any='^(fuse3?/)?(fuse|cuse)[a-z_]*\.h$'

check_dir core "$fuse_any|^curl/|^openssl/|^(mountopts|cache|fs)\.h$" \
	"core uses only libc, pthreads, jansson and sqlite3 (STYLE §1)"
for f in $(sources mountopts); do
	while IFS= read -r h; do
		if printf '%s\n' "$h" | grep -Eq "$fuse_any" &&
		   ! printf '%s\n' "$h" | grep -Eq '^(fuse3/)?fuse_opt\.h$'; then
			violation "$f: includes <$h>: mountopts uses only <fuse_opt.h> from libfuse (STYLE §1)"
		fi
		if printf '%s\n' "$h" | grep -Eq '^(cache|fs)\.h$|^curl/|^openssl/'; then
			violation "$f: includes <$h>: mountopts depends on core and fuse_opt only (STYLE §1)"
		fi
	done < <(includes "$f")
done
check_dir cache "$fuse_any|^(mountopts|fs)\.h$" \
	"cache never includes FUSE, mountopts or fs headers (STYLE §1)"

for f in $(sources . | grep -Ev '^\./(fs|tests|build[^/]*)/'); do
	if includes "$f" | grep -Eq '^fs\.h$'; then
		violation "${f#./}: includes fs.h: only fs/ and tests/ may (STYLE §1)"
	fi
done

for f in $(sources . | grep -Ev '^\./build[^/]*/'); do
	while IFS= read -r h; do
		case "$h" in
		*_int.h)
			if [ ! -e "$(dirname "$f")/$(basename "$h")" ]; then
				violation "${f#./}: includes $h: a module's *_int.h is private to its directory (STYLE §5)"
			fi ;;
		esac
	done < <(includes "$f")
done

if [ "$bad" -eq 0 ]; then
	echo "check_layers: ok"
fi
exit "$bad"
