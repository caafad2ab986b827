#!/usr/bin/env python3
"""Unmount modelfs mounts that a crashed or killed test run left behind.

The integration harness (conftest.py) puts every mount it makes under one
private root, test_root(), which depends on the build directory so that two
build trees on one machine (Release and ASan, or two developers) never reap
each other's live mounts.  ctest runs this script as the FIXTURES_CLEANUP
step of the `mounts` fixture, after every integration test of that build
tree has finished, whatever their outcome.

A mount is ours when its mount point lies under test_root() and
/proc/self/mountinfo shows it as modelfs: file system type fuse.modelfs, or
source "modelfs" (libfuse names both after the program), or any FUSE type
(nothing else mounts under our private root).  Each one is unmounted with
`fusermount3 -u`, then lazily with `-u -z` if it is busy.

Run by hand: `MF_BUILD_DIR=/path/to/build python3 tests/integration/reaper.py`.
Exit status: 0 when nothing of ours is left mounted, 1 otherwise.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile


def test_root():
    """The directory under which the harness creates its mounts."""
    explicit = os.environ.get("MF_TEST_ROOT")
    if explicit:
        return os.path.abspath(explicit)
    build = os.path.realpath(os.environ.get("MF_BUILD_DIR", "default"))
    tag = hashlib.sha256(build.encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), "modelfs-it-%d-%s" % (os.getuid(), tag))


_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts():
    """(mount point, fstype, source) of every mount, from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            left, sep, right = line.rstrip("\n").partition(" - ")
            if not sep:
                continue
            fields = left.split(" ")
            rest = right.split(" ")
            if len(fields) < 5 or len(rest) < 2:
                continue
            out.append((_unescape(fields[4]), rest[0], _unescape(rest[1])))
    return out


def is_modelfs(fstype, source):
    return fstype == "fuse.modelfs" or source == "modelfs" or fstype.startswith("fuse")


def ours(root=None):
    """Mount points of modelfs mounts under root (deepest first)."""
    root = root or test_root()
    prefix = root.rstrip("/") + "/"
    found = [mp for mp, fstype, source in mounts()
             if (mp == root or mp.startswith(prefix)) and is_modelfs(fstype, source)]
    return sorted(set(found), key=len, reverse=True)


def unmount(mountpoint):
    """fusermount3 -u, then -u -z.  True when it is no longer mounted."""
    for args in (["-u"], ["-u", "-z"]):
        subprocess.run(["fusermount3", *args, mountpoint],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if mountpoint not in [mp for mp, _, _ in mounts()]:
            return True
    return False


def main():
    root = test_root()
    left = []
    for mp in ours(root):
        ok = unmount(mp)
        print("reaper: %s %s" % ("unmounted" if ok else "could not unmount", mp))
        if not ok:
            left.append(mp)
    if not left and os.path.isdir(root) and not os.environ.get("MF_KEEP_TMP"):
        shutil.rmtree(root, ignore_errors=True)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
