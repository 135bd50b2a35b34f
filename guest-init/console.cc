// guest-init/console.cc — stdio on /dev/console and line output (see the header).
#include "guest-init/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

namespace guest_init {

int open_console()
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return errno;
    for (int i = 0; i < 3; i++) {
        if (fd != i)
            dup2(fd, i);
    }
    if (fd > 2)
        close(fd);
    return 0;
}

void say(const char* format, ...)
{
    char line[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0)
        return;
    size_t len = size_t(n) < sizeof line - 1 ? size_t(n) : sizeof line - 2;
    line[len++] = '\n';
    const char* p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= size_t(w);
    }
}

void drain_console()
{
    tcdrain(STDOUT_FILENO);
    tcdrain(STDERR_FILENO);
}

} // namespace guest_init
