#include "cgwarden_fuzz.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const uint8_t *volatile current_data;
static volatile size_t current_size;
static const char *volatile current_path;
static const char *volatile current_message;

void cgw_fuzz_set_current(const uint8_t *data, size_t size, const char *path, const char *message) {
    current_data = data;
    current_size = size;
    current_path = path;
    current_message = message;
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

static void on_crash(int sig) {
    const char *path = current_path;
    if (path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            write_all(fd, (const void *)current_data, current_size);
            close(fd);
        }
        const char *m = current_message;
        if (m) write_all(2, m, strlen(m));
        write_all(2, path, strlen(path));
        write_all(2, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/// A stack overflow (runaway recursion) faults on the guard page: the
/// handler runs on a stack of its own.
static char alternate_stack[64 * 1024];

void cgw_fuzz_install_crash_handler(void) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = alternate_stack;
    ss.ss_size = sizeof alternate_stack;
    sigaltstack(&ss, NULL);
    int signals[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_crash;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, NULL);
    }
}
