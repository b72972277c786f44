// libsqlite3 for Swift (the event store, Sources/CGWardenStore). Debian's
// library: its SQLITE_TRANSIENT is a cast Swift cannot import, so the
// wrapper passes its own destructor constant.
#ifndef CGWARDEN_SQLITE_H
#define CGWARDEN_SQLITE_H

#include <sqlite3.h>

static inline sqlite3_destructor_type cgw_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
