// The daemon's wake-up sources and memory calls that Swift's Glibc module
// does not import (sys/signalfd.h, sys/mman.h flags newer than it knows).
#ifndef CGWARDEN_SYSTEM_H
#define CGWARDEN_SYSTEM_H

#include <signal.h>
#include <stdint.h>

/// signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC) for `count` signals.
int cgw_signalfd(const int *signals, int count);
/// The next signal number read from a signalfd, 0 when none is pending,
/// -1 with errno when the read failed (EAGAIN: none pending either).
int cgw_signalfd_next(int fd);
/// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): 0 or -1 with errno.
int cgw_mlockall_onfault(void);
/// pidfd_open(2) and process_mrelease(2) (Linux 5.3 and 5.15) through syscall(2).
int cgw_pidfd_open(int pid);
int cgw_process_mrelease(int pidfd);

#endif
