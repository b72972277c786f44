#ifndef CGWARDEN_FUZZ_H
#define CGWARDEN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver for a program with its own main (compiler-rt,
/// FuzzerDriver.cpp). Only referenced when the harness is built with
/// -DCGWARDEN_LIBFUZZER, which scripts/fuzz links with libFuzzer (no_main).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// A signal handler that saves the input being run when a trap (SIGILL,
/// SIGTRAP) or a crash ends the seeded run, then dies of the same signal.
/// Written in C: only async-signal-safe calls, no Swift runtime.
void cgw_fuzz_install_crash_handler(void);
/// What the handler saves: the input (not copied: valid while it runs), the
/// file to write it to, and a line for standard error.
void cgw_fuzz_set_current(const uint8_t *data, size_t size, const char *path, const char *message);

#endif
