// libseccomp for Swift: the function-like macros of <seccomp.h> the Swift
// importer cannot see, as functions. Everything else (seccomp_init,
// seccomp_rule_add_array, seccomp_syscall_resolve_name, scmp_arg_cmp,
// SCMP_CMP_*) is imported directly.
#ifndef CGWARDEN_SECCOMP_H
#define CGWARDEN_SECCOMP_H

#include <seccomp.h>
#include <stdint.h>

/// SCMP_ACT_ERRNO(x): fail the system call with errno `x`.
static inline uint32_t cgw_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
/// The constant actions, as uint32_t so that Swift sees one type.
static inline uint32_t cgw_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t cgw_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t cgw_scmp_act_trap(void) { return SCMP_ACT_TRAP; }
static inline uint32_t cgw_scmp_act_log(void) { return SCMP_ACT_LOG; }

/// What `seccomp_syscall_resolve_name` returns for an unknown name.
static inline int cgw_scmp_nr_error(void) { return __NR_SCMP_ERROR; }

#endif
