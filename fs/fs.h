/*
 * fs.h - the FUSE layer and the command line.  Only main.c and tests
 * include this header.
 */
#ifndef MODELFS_FS_H
#define MODELFS_FS_H

#include "core.h"

/* The modelfs command: `modelfs MOUNTPOINT [-f] [-d] [-s] [-o ...]`,
 * `modelfs inspect ...`, `modelfs estimate ...`, `modelfs jobs ...`,
 * `--help`, `--version` (SPEC §1).  Returns the process exit status. */
int fs_main(int argc, char *argv[]);

/* @@FS@@ */

#endif /* MODELFS_FS_H */
