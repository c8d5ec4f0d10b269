/* LD_PRELOAD shim that turns fsync/fdatasync/syncfs/sync_file_range into no-ops.
 * Used by bench/run only for the *setup* run of the re-scan benchmark (indexing 100,000 tiny
 * files, whose time is not a target); the timed re-scans run without it.
 * Build: cc -shared -fPIC -O2 -o bench/out/nosync.so bench/nosync.c */
#define _GNU_SOURCE
#include <sys/types.h>
int fsync(int fd) { (void)fd; return 0; }
int fdatasync(int fd) { (void)fd; return 0; }
int syncfs(int fd) { (void)fd; return 0; }
void sync(void) {}
int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    (void)fd; (void)offset; (void)nbytes; (void)flags; return 0;
}
