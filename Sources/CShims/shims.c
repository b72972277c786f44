#define _GNU_SOURCE
#include "cgwarden_shims.h"
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

ssize_t cgw_getdents64(int fd, void *buf, size_t len) {
    return syscall(SYS_getdents64, fd, buf, len);
}

struct cgw_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

size_t cgw_dirent_at(const void *buf, size_t offset, uint64_t *ino, unsigned char *type, const char **name) {
    const struct cgw_dirent64 *d = (const struct cgw_dirent64 *)((const char *)buf + offset);
    *ino = d->d_ino;
    *type = d->d_type;
    *name = d->d_name;
    return d->d_reclen;
}

long cgw_fstatfs_type(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) < 0) return -1;
    return (long)s.f_type;
}

int cgw_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

ssize_t cgw_fgetxattr(int fd, const char *name, void *value, size_t size) {
    return fgetxattr(fd, name, value, size);
}

int cgw_setxattr(const char *path, const char *name, const void *value, size_t size) {
    return setxattr(path, name, value, size, 0);
}

size_t cgw_malloc_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
