// The daemon's wake-up sources and memory calls that Swift's Glibc module
// does not import (sys/signalfd.h, sys/mman.h flags newer than it knows).
#ifndef CGWARDEN_SYSTEM_H
#define CGWARDEN_SYSTEM_H

#include <signal.h>
#include <stdint.h>
#include <stddef.h>

/// signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC) for `count` signals.
int cgw_signalfd(const int *signals, int count);
/// The next signal number read from a signalfd, 0 when none is pending,
/// -1 with errno when the read failed (EAGAIN: none pending either).
int cgw_signalfd_next(int fd);
/// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): 0 or -1 with errno.
int cgw_mlockall_onfault(void);
/// mallopt(M_ARENA_MAX, 1): 0, or -1 when glibc refused it.
int cgw_single_malloc_arena(void);
/// prctl(PR_SET_THP_DISABLE, disable) (Linux 3.15): 0 or -1 with errno.
int cgw_set_thp_disable(int disable);
/// prctl(PR_GET_THP_DISABLE): 1 when this process's transparent huge pages are off, 0, or -1 with errno.
int cgw_thp_disabled(void);
/// mlock2(start, length, MLOCK_ONFAULT) (Linux 4.4) through syscall(2): 0 or -1 with errno.
int cgw_mlock_onfault(uintptr_t start, size_t length);
/// pidfd_open(2) and process_mrelease(2) (Linux 5.3 and 5.15) through syscall(2).
int cgw_pidfd_open(int pid);
int cgw_process_mrelease(int pidfd);

/// The loaded object (executable or shared library) one of whose segments
/// holds `address`, found with dl_iterate_phdr (no file is opened): its
/// name (as the loader has it, "" for the executable) copied into `name`
/// (`name_size` bytes, cut and terminated), and the page-aligned ranges of
/// its loadable segments the program cannot write (code and constants,
/// never relocated), at most `max`, in `starts` and `lengths`. A read-only
/// segment that shares a page with a writable one is left out. The number
/// of ranges; -1 when no object holds the address; -2 when the object has
/// text relocations (its "read-only" pages were written by the loader).
int cgw_readonly_segments(const void *address, char *name, size_t name_size,
                          uintptr_t *starts, size_t *lengths, int max);

/// A listening TCP socket, non-blocking and close-on-exec, SO_REUSEADDR, on
/// `address` (4 bytes for IPv4, 16 for IPv6: then IPV6_V6ONLY) and `port`
/// (0: the kernel picks one). The descriptor, or -1 with errno.
int cgw_listen_inet(const uint8_t *address, int length, uint16_t port, int backlog);
/// A listening Unix stream socket at `path`, non-blocking and close-on-exec,
/// its file made `mode`; a socket file already at `path` (a previous run's)
/// is replaced, anything else there is EADDRINUSE. The descriptor, or -1 with errno.
int cgw_listen_unix(const char *path, unsigned mode, int backlog);
/// accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC): the connection, or -1 with errno.
int cgw_accept(int fd);
/// The port a TCP socket is bound to (getsockname), or -1 with errno.
int cgw_local_port(int fd);
/// A blocking TCP connection to `address`:`port` (4 or 16 bytes), for tests and
/// benchmarks; or -1 with errno.
int cgw_connect_inet(const uint8_t *address, int length, uint16_t port);
/// A blocking connection to the Unix stream socket at `path`, or -1 with errno.
int cgw_connect_unix(const char *path);

#endif
