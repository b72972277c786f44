#define _GNU_SOURCE
#include "cgwarden_system.h"
#include <sys/signalfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>

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

int cgw_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int cgw_process_mrelease(int pidfd) { return (int)syscall(SYS_process_mrelease, pidfd, 0); }
