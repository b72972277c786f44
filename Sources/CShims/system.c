#define _GNU_SOURCE
#include "cgwarden_system.h"
#include <sys/signalfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <link.h>
#include <elf.h>

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif

int cgw_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cgw_signalfd_next(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n < 0) return -1;
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

int cgw_mlockall_onfault(void) { return mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT); }

int cgw_single_malloc_arena(void) { return mallopt(M_ARENA_MAX, 1) == 1 ? 0 : -1; }

int cgw_set_thp_disable(int disable) { return prctl(PR_SET_THP_DISABLE, disable ? 1 : 0, 0, 0, 0); }

int cgw_thp_disabled(void) { return prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0); }

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
int cgw_mlock_onfault(uintptr_t start, size_t length) {
    return (int)syscall(SYS_mlock2, (void *)start, length, MLOCK_ONFAULT);
}

int cgw_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int cgw_process_mrelease(int pidfd) { return (int)syscall(SYS_process_mrelease, pidfd, 0); }

struct cgw_segment_query {
    uintptr_t address;
    char *name;
    size_t name_size;
    uintptr_t *starts;
    size_t *lengths;
    int max;
    int result;
};

static int cgw_segments_of(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct cgw_segment_query *q = data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    int holds = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + p->p_vaddr;
        if (p->p_type == PT_LOAD && q->address >= start && q->address - start < p->p_memsz) holds = 1;
    }
    if (!holds) return 0;
    if (q->name_size > 0) {
        const char *n = info->dlpi_name ? info->dlpi_name : "";
        size_t length = strlen(n);
        if (length >= q->name_size) length = q->name_size - 1;
        memcpy(q->name, n, length);
        q->name[length] = 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_DYNAMIC) continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + p->p_vaddr); d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) {
                q->result = -2;
                return 1;
            }
        }
    }
    int count = 0;
    for (int i = 0; i < info->dlpi_phnum && count < q->max; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD || (p->p_flags & PF_W) || p->p_memsz == 0) continue;
        uintptr_t start = (info->dlpi_addr + p->p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + p->p_vaddr + p->p_memsz + page - 1) & ~(page - 1);
        int shared = 0;
        for (int j = 0; j < info->dlpi_phnum; j++) {
            const ElfW(Phdr) *w = &info->dlpi_phdr[j];
            if (w->p_type != PT_LOAD || !(w->p_flags & PF_W)) continue;
            uintptr_t ws = (info->dlpi_addr + w->p_vaddr) & ~(page - 1);
            uintptr_t we = (info->dlpi_addr + w->p_vaddr + w->p_memsz + page - 1) & ~(page - 1);
            if (ws < end && start < we) shared = 1;
        }
        if (shared) continue;
        q->starts[count] = start;
        q->lengths[count] = end - start;
        count++;
    }
    q->result = count;
    return 1;
}

int cgw_readonly_segments(const void *address, char *name, size_t name_size,
                          uintptr_t *starts, size_t *lengths, int max) {
    struct cgw_segment_query q = { (uintptr_t)address, name, name_size, starts, lengths, max, -1 };
    if (name_size > 0) name[0] = 0;
    dl_iterate_phdr(cgw_segments_of, &q);
    return q.result;
}

static socklen_t cgw_inet_address(struct sockaddr_storage *ss, const uint8_t *address, int length, uint16_t port) {
    memset(ss, 0, sizeof *ss);
    if (length == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        memcpy(&in->sin_addr, address, 4);
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    memcpy(&in6->sin6_addr, address, 16);
    return sizeof *in6;
}

int cgw_listen_inet(const uint8_t *address, int length, uint16_t port, int backlog) {
    if (length != 4 && length != 16) { errno = EINVAL; return -1; }
    int fd = socket(length == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (length == 16) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t len = cgw_inet_address(&ss, address, length, port);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int cgw_listen_unix(const char *path, unsigned mode, int backlog) {
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof un.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(un.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) { errno = EADDRINUSE; return -1; }
        if (unlink(path) != 0) return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&un, sizeof un) != 0 || chmod(path, mode) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int cgw_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

int cgw_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

int cgw_connect_inet(const uint8_t *address, int length, uint16_t port) {
    if (length != 4 && length != 16) { errno = EINVAL; return -1; }
    int fd = socket(length == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t len = cgw_inet_address(&ss, address, length, port);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

int cgw_connect_unix(const char *path) {
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof un.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(un.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}
