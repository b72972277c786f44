// libsystemd for Swift: sd_notify(3) and the journal's native protocol
// (sd_journal_sendv(3); the variadic sd_journal_send is not importable).
#ifndef CGWARDEN_SYSTEMD_H
#define CGWARDEN_SYSTEMD_H

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/uio.h>

#endif
