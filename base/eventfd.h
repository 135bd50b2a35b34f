// base/eventfd.h — eventfd plumbing shared by the devices, their loops and the daemon: one
// place that creates a non-blocking eventfd and one that signals it.
//
// Usage:
//     base::UniqueFd wake = base::make_eventfd("VSOCK_EVENTFD", "the vsock device");
//     base::signal_eventfd(wake.get());    // from any thread; never blocks, never fails loudly
#pragma once

#include "base/file.h"

#include <string>

namespace base {

// A non-blocking, close-on-exec eventfd; throws base::Error with `code` naming `what` on failure.
UniqueFd make_eventfd(const std::string& code, const std::string& what);

// Adds 1 to the eventfd's counter. A counter at its maximum already wakes its reader, so a
// failed write loses nothing.
void signal_eventfd(int fd);

} // namespace base
