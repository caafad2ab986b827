#!/usr/bin/env bash
# Install what modelfs needs, build it, and mount the built-in catalog in the
# foreground:
#
#   contrib/run.sh [MOUNTPOINT] [-o OPTIONS ...]     (MOUNTPOINT defaults to ./mnt)
#
# The mount stays until Ctrl-C (or `fusermount3 -u MOUNTPOINT` from another
# shell).  The build goes to build/run (Release).  Extra arguments after the
# mount point go to modelfs, e.g. `contrib/run.sh ~/models -o offline`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mnt=${1:-mnt}
[ $# -gt 0 ] && shift

"$repo/contrib/install-deps.sh"
cmake -S "$repo" -B "$repo/build/run" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$repo/build/run" -j "$(nproc)" --target modelfs
mkdir -p "$mnt"
echo "modelfs: mounting at $mnt in the foreground; Ctrl-C unmounts" >&2
exec "$repo/build/run/fs/modelfs" "$mnt" -f "$@"
