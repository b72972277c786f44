// C helpers for the kill helper's sandbox (CGWardenSandbox, CGWardenActions):
// openat2, statx, prctl, xattrs, credentials, SCM_RIGHTS, posix_spawn's
// closefrom: what glibc 2.36 does not wrap or declares only with _GNU_SOURCE.
//
// Do not define _GNU_SOURCE here: this header is compiled into a Clang module
// beside SwiftGlibc, which is built without it, and glibc's types would then
// differ between the two. Whatever needs _GNU_SOURCE is in sandbox.c.
#ifndef CGWARDEN_SANDBOX_H
#define CGWARDEN_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <spawn.h>
#include <sys/types.h>

/// RESOLVE_* flags of openat2(2) (linux/openat2.h, kernel 5.6).
extern const uint64_t cgw_resolve_beneath;
extern const uint64_t cgw_resolve_no_symlinks;
extern const uint64_t cgw_resolve_no_magiclinks;
extern const uint64_t cgw_resolve_no_xdev;

/// openat2(2) through syscall(2) (glibc 2.36 has no wrapper). The new fd, or
/// -1 with errno (ENOSYS before 5.6, or where a seccomp filter says so).
int cgw_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// O_PATH (declared by <fcntl.h> only with _GNU_SOURCE).
extern const int cgw_o_path;

/// prctl(PR_SET_NO_NEW_PRIVS, 1): 0, or -1 with errno (prctl is variadic).
int cgw_set_no_new_privs(void);
/// prctl(PR_GET_NO_NEW_PRIVS): 1, 0, or -1 with errno.
int cgw_get_no_new_privs(void);
/// prctl(PR_SET_DUMPABLE, value): 0 stops core dumps and ptrace attach by
/// non-root and makes /proc/PID root-owned.
int cgw_set_dumpable(int value);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): close every fd >=
/// `from` in the child; ENOSYS where glibc lacks it.
int cgw_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// Type and mount of an open file, from statx(2).
struct cgw_file_identity {
    uint32_t mode;       /* st_mode */
    uint64_t device;     /* st_dev */
    uint64_t mount_id;   /* stx_mnt_id, valid when has_mount_id */
    int has_mount_id;    /* STATX_MNT_ID: Linux 5.8+ */
};
/// statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MNT_ID): 0, or -1 with errno.
int cgw_file_identity(int fd, struct cgw_file_identity *identity);

/// setresuid(2) / setresgid(2) (declared only with _GNU_SOURCE).
int cgw_setresuid(uid_t r, uid_t e, uid_t s);
int cgw_setresgid(gid_t r, gid_t e, gid_t s);
/// getresuid(2) / getresgid(2).
int cgw_getresuid(uid_t *r, uid_t *e, uid_t *s);
int cgw_getresgid(gid_t *r, gid_t *e, gid_t *s);
/// setfsuid(2) / setfsgid(2): the previous id (they report no error).
int cgw_setfsuid(uid_t uid);
int cgw_setfsgid(gid_t gid);

/// Sends `data` (one SOCK_SEQPACKET message) with `fd` attached as
/// SCM_RIGHTS (fd < 0: none). MSG_NOSIGNAL. Bytes sent, or -1 with errno
/// (EINTR included: CGWardenSystem's funnel retries, as for every call).
ssize_t cgw_send_with_fd(int socket, const void *data, size_t len, int fd);

/// Receives one message into `data`; a descriptor passed with SCM_RIGHTS is
/// stored in `*fd` (close-on-exec), else -1. Returns the message's real
/// length (MSG_TRUNC: larger than `len` when cut), 0 at end-of-file, -1 with errno.
ssize_t cgw_recv_with_fd(int socket, void *data, size_t len, int *fd);

#endif
