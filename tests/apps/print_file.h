/* tests/apps/print_file.h — for the static test apps: print a file line by line with a prefix,
 * e.g. print_file("VSOCK file", "/proc/cpuinfo") → "VSOCK file /proc/cpuinfo: <line>" each. */
#pragma once
#include <errno.h>
#include <stdio.h>
#include <string.h>

static inline void print_file(const char* prefix, const char* path)
{
    FILE* f = fopen(path, "r");
    if (!f) {
        printf("%s %s: cannot open: %s\n", prefix, path, strerror(errno));
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        printf("%s %s: %s\n", prefix, path, line);
    }
    fclose(f);
}
