#!/usr/bin/env bash
# check_banned.sh - the banned functions of STYLE §9 in *.c and *.h outside tests/.
#
#   atoi atol atof sscanf strtok strcpy strcat strncpy sprintf vsprintf gets system popen
#
# Use parse_u64/parse_size/parse_double, snprintf with a truncation check,
# sbuf, and posix_spawn instead.  Comments, string and character literals
# are stripped first, so prose that names a banned function is fine.
#
# Usage: check_banned.sh [REPO_DIR]    Exit 0 when clean, 1 with one line per use.
set -uo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$repo" || exit 2

banned='atoi|atol|atof|sscanf|strtok|strcpy|strcat|strncpy|sprintf|vsprintf|gets|system|popen'
bad=0

# strip FILE: FILE with comments and string and character literals blanked
# out, one output line per input line so grep -n numbers stay right.
strip() {
	awk '
	BEGIN { inc = 0 }
	{
		out = ""; i = 1; n = length($0); s = $0
		while (i <= n) {
			c = substr(s, i, 1); d = substr(s, i, 2)
			if (inc) {
				if (d == "*/") { inc = 0; i += 2; continue }
				i++; continue
			}
			if (d == "/*") { inc = 1; i += 2; out = out " "; continue }
			if (d == "//") break
			if (c == "\"" || c == "\x27") {
				q = c; i++
				while (i <= n) {
					e = substr(s, i, 1)
					if (e == "\\") { i += 2; continue }
					i++
					if (e == q) break
				}
				out = out q q; continue
			}
			out = out c; i++
		}
		print out
	}' "$1"
}

files=$(find . -type f \( -name '*.c' -o -name '*.h' \) \
	-not -path './tests/*' -not -path './build*' -not -path './.git/*' -not -path '*/node_modules/*' | sort)
for f in $files; do
	hits=$(strip "$f" | grep -nE "(^|[^A-Za-z0-9_.>])($banned)[[:space:]]*\(" || true)
	if [ -n "$hits" ]; then
		while IFS= read -r h; do
			printf '%s:%s\n' "${f#./}" "$h"
		done <<< "$hits"
		bad=1
	fi
done

if [ "$bad" -eq 0 ]; then
	echo "check_banned: ok"
else
	echo "check_banned: banned functions used (STYLE §9): $banned" | tr '|' ' '
fi
exit "$bad"
