// The kill helper's sandbox shims (see include/cgwarden_sandbox.h).
#define _GNU_SOURCE
#include "cgwarden_sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437   /* the same number on every architecture */
#endif

const uint64_t cgw_resolve_beneath = RESOLVE_BENEATH;
const uint64_t cgw_resolve_no_symlinks = RESOLVE_NO_SYMLINKS;
const uint64_t cgw_resolve_no_magiclinks = RESOLVE_NO_MAGICLINKS;
const uint64_t cgw_resolve_no_xdev = RESOLVE_NO_XDEV;
const int cgw_o_path = O_PATH;

int cgw_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int cgw_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL); }
int cgw_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL); }
int cgw_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0UL, 0UL, 0UL); }

int cgw_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

int cgw_file_identity(int fd, struct cgw_file_identity *identity) {
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &stx) != 0) return -1;
    identity->mode = stx.stx_mode;
    identity->device = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    identity->has_mount_id = (stx.stx_mask & STATX_MNT_ID) != 0;
    identity->mount_id = identity->has_mount_id ? stx.stx_mnt_id : 0;
    return 0;
}

int cgw_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int cgw_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }
int cgw_getresuid(uid_t *r, uid_t *e, uid_t *s) { return getresuid(r, e, s); }
int cgw_getresgid(gid_t *r, gid_t *e, gid_t *s) { return getresgid(r, e, s); }
int cgw_setfsuid(uid_t uid) { return setfsuid(uid); }
int cgw_setfsgid(gid_t gid) { return setfsgid(gid); }

ssize_t cgw_send_with_fd(int socket, const void *data, size_t len, int fd) {
    struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(socket, &msg, MSG_NOSIGNAL);
}

ssize_t cgw_recv_with_fd(int socket, void *data, size_t len, int *fd) {
    struct iovec iov = { .iov_base = data, .iov_len = len };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * 4)]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    *fd = -1;
    ssize_t n = recvmsg(socket, &msg, MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[4];
        memcpy(fds, CMSG_DATA(c), count * sizeof(int) < sizeof fds ? count * sizeof(int) : sizeof fds);
        for (size_t i = 0; i < count && i < 4; i++) {
            if (*fd < 0) *fd = fds[i]; else close(fds[i]);   /* keep one, close extras */
        }
    }
    return n;
}
