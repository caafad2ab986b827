#!/usr/bin/env bash
# register-list.sh - register every repository named in a file with a
# modelfs mount, one write to MNT/.control/register per line.
#
#   register-list.sh MNT FILE|-
#
# FILE has one register request per line (`ORG/REPO [KEY=VALUE...]`, a
# huggingface.co URL, hf://ORG/REPO@REV, or a local path); blank lines and
# '#' comments are skipped.  A failed line is reported with the error the
# write returned and the last line of MNT/.control/log; the exit status is
# 1 when any line failed.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog MNT FILE|-

Register the repositories listed in FILE (or standard input) with the modelfs
mount MNT by writing each line to MNT/.control/register.

FILE: one request per line, as modelfs(1) CONTROL FILES describes:
  bartowski/Qwen2.5-7B-Instruct-GGUF
  https://huggingface.co/unsloth/phi-4-GGUF  family=phi
  hf://bartowski/gemma-2-2b-it-GGUF@main     quant=q4_k_m
Blank lines and text after '#' are ignored.

Each failure is reported with the error of the write (EINVAL, ENOENT, EACCES,
ENETDOWN, ...) and the last line of MNT/.control/log.  Exit status: 0 when
every line was registered, 1 when any failed, 2 for a usage error.
EOF
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "${2:-1}"
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
esac
if [ $# -ne 2 ]; then
	usage >&2
	exit 2
fi
mnt=$1
list=$2
ctl=$mnt/.control/register
log=$mnt/.control/log

[ -d "$mnt/.control" ] || die "'$mnt' is not a modelfs mount (no .control/)"
if [ ! -e "$ctl" ]; then
	die "$ctl: No such file or directory; this modelfs cannot register models (is it older than registration?)"
fi
if [ "$list" = - ]; then
	exec 3<&0
else
	[ -r "$list" ] || die "cannot read '$list'"
	exec 3<"$list"
fi

last_log() {
	tail -n 1 "$log" 2>/dev/null || true
}

ok=0 failed=0 n=0
while IFS= read -r line <&3 || [ -n "$line" ]; do
	n=$((n + 1))
	line=${line%%#*}
	line=${line%"${line##*[![:space:]]}"}
	line=${line#"${line%%[![:space:]]*}"}
	[ -n "$line" ] || continue
	# One open, write and close per request; bash reports a failed write
	# (or open) as "...: MESSAGE", MESSAGE being strerror of the errno.
	before=$(last_log)
	if err=$({ printf '%s\n' "$line" >"$ctl"; } 2>&1); then
		ok=$((ok + 1))
		printf 'registered  %s\n' "$line"
	else
		failed=$((failed + 1))
		msg=${err##*: }
		printf 'FAILED      %s: %s (line %d)\n' "$line" "${msg:-write failed}" "$n" >&2
		entry=$(last_log)
		if [ -n "$entry" ] && [ "$entry" != "$before" ]; then
			printf '            .control/log: %s\n' "$entry" >&2
		else
			printf '            .control/log: (no new line)\n' >&2
		fi
	fi
done
exec 3<&-

printf '%s: %d registered, %d failed\n' "$prog" "$ok" "$failed" >&2
[ "$failed" -eq 0 ]
