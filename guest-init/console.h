// guest-init/console.h — init's console: reopening stdio on /dev/console and printing whole
// lines (one write() each, so they do not interleave with the app's output).
//
//   open_console();                       // after devtmpfs is on /dev
//   say("init: heartbeat failed: %s", strerror(e));
#pragma once

namespace guest_init {

// Reopens fds 0, 1, 2 on /dev/console. Returns 0 or errno (then stdio stays as it was).
int open_console();

// printf-style; appends '\n' and writes the line to stderr in one call.
void say(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Waits until everything written to the console has left (tcdrain), so a reboot does not cut
// off the last lines.
void drain_console();

} // namespace guest_init
