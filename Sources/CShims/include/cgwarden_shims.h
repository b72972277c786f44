// Small C helpers for what Swift cannot reach through Glibc: raw syscalls
// without a libc wrapper, and kernel constants from headers Swift does not import.
#ifndef CGWARDEN_SHIMS_H
#define CGWARDEN_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// statfs f_type of a cgroup v2 mount (linux/magic.h).
#define CGW_CGROUP2_SUPER_MAGIC 0x63677270L
/// statfs f_type of a cgroup v1 mount.
#define CGW_CGROUP_SUPER_MAGIC 0x27e0ebL
/// statfs f_type of tmpfs (what /sys/fs/cgroup is on v1/hybrid hosts).
#define CGW_TMPFS_MAGIC 0x01021994L

/// getdents64(2) through syscall(2): fills `buf` with struct linux_dirent64
/// records; returns bytes, 0 at the end, -1 with errno.
ssize_t cgw_getdents64(int fd, void *buf, size_t len);

/// Decodes one record of a getdents64 buffer at `offset`: sets the inode,
/// d_type and a pointer to the NUL-terminated name; returns the record length.
size_t cgw_dirent_at(const void *buf, size_t offset, uint64_t *ino, unsigned char *type, const char **name);

/// fstatfs(2) f_type of the file system holding `fd`; -1 with errno on failure
/// (sys/vfs.h is not in Swift's Glibc module).
long cgw_fstatfs_type(int fd);

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start, so that a
/// concurrent spawn cannot inherit them.
int cgw_pipe_cloexec(int fds[2]);

/// fgetxattr(2) (sys/xattr.h is not in Swift's Glibc module): bytes, or -1 with errno.
ssize_t cgw_fgetxattr(int fd, const char *name, void *value, size_t size);

/// setxattr(2), for tests that mark cgroups as operators do.
int cgw_setxattr(const char *path, const char *name, const void *value, size_t size);

/// Bytes malloc has handed out and not had back (mallinfo2: malloc.h is not
/// in Swift's Glibc module), for benchmarks of what a snapshot holds.
size_t cgw_malloc_in_use(void);

#endif
