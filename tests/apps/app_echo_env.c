/* tests/apps/app_echo_env.c — an enclave app that reports what init gave it: argv, environment,
 * working directory, ids, hostname, parent, session, stdin, mounts, /dev links, TCP on
 * 127.0.0.1. One "ECHO ..." line each. Exits with N when an argument is "--exit=N".
 * "--file=PATH" prints each line of PATH as "ECHO file PATH: <line>" (e.g. /proc/cmdline, what
 * the kernel was booted with; /proc/cpuinfo, what the VMM's CPUID shows). */
#include "tests/apps/print_file.h"
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern char** environ;

static void report_mount(const char* path)
{
    FILE* f = fopen("/proc/self/mounts", "r");
    char dev[256], dir[256], type[64];
    const char* found = NULL;
    static char found_type[64];
    if (f) {
        while (fscanf(f, "%255s %255s %63s %*[^\n]", dev, dir, type) == 3) {
            if (strcmp(dir, path) == 0) {
                strcpy(found_type, type);
                found = found_type;
            }
        }
        fclose(f);
    }
    printf("ECHO mount %s %s\n", path, found ? found : "MISSING");
}

static void report_link(const char* path)
{
    char target[256];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
        printf("ECHO link %s MISSING\n", path);
        return;
    }
    target[n] = 0;
    printf("ECHO link %s -> %s\n", path, target);
}

static void report_loopback_address(void)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
    if (s >= 0 && ioctl(s, SIOCGIFADDR, &ifr) == 0)
        printf("ECHO lo up=%s addr=%s\n", up ? "yes" : "no", inet_ntoa(((struct sockaddr_in*)&ifr.ifr_addr)->sin_addr));
    else
        printf("ECHO lo up=%s addr=NONE\n", up ? "yes" : "no");
    if (s >= 0)
        close(s);
}

static const char* tcp_loopback(void)
{
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    if (server < 0 || bind(server, (struct sockaddr*)&addr, sizeof addr) || listen(server, 1)
        || getsockname(server, (struct sockaddr*)&addr, &len))
        return "listen failed";
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr*)&addr, sizeof addr))
        return "connect failed";
    int conn = accept(server, NULL, NULL);
    char buf[8] = { 0 };
    if (conn < 0 || write(client, "ping", 4) != 4 || read(conn, buf, sizeof buf - 1) != 4 || strcmp(buf, "ping"))
        return "exchange failed";
    close(conn);
    close(client);
    close(server);
    return "ok";
}

int main(int argc, char** argv)
{
    int exit_code = 0;
    printf("ECHO argc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        printf("ECHO argv[%d]=<%s>\n", i, argv[i]);
        if (strncmp(argv[i], "--exit=", 7) == 0)
            exit_code = atoi(argv[i] + 7);
    }
    for (char** e = environ; *e; e++)
        printf("ECHO env <%s>\n", *e);
    char cwd[512];
    printf("ECHO cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    gid_t groups[64];
    int ngroups = getgroups(64, groups);
    printf("ECHO uid=%d gid=%d euid=%d groups=", (int)getuid(), (int)getgid(), (int)geteuid());
    for (int i = 0; i < ngroups; i++)
        printf("%s%d", i ? "," : "", (int)groups[i]);
    printf("\n");
    char host[256] = "?";
    gethostname(host, sizeof host);
    printf("ECHO hostname=%s\n", host);
    printf("ECHO ppid=%d session_leader=%s\n", (int)getppid(), getsid(0) == getpid() ? "yes" : "no");
    struct stat st;
    char c;
    if (fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
        printf("ECHO stdin=/dev/null eof=%s\n", read(0, &c, 1) == 0 ? "yes" : "no");
    else
        printf("ECHO stdin=other\n");
    const char* mounts[] = { "/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/tmp", "/run" };
    for (size_t i = 0; i < sizeof mounts / sizeof mounts[0]; i++)
        report_mount(mounts[i]);
    report_link("/dev/fd");
    report_link("/dev/stdin");
    report_link("/dev/stdout");
    report_link("/dev/stderr");
    printf("ECHO /dev/null %s\n", access("/dev/null", W_OK) == 0 ? "ok" : "MISSING");
    printf("ECHO /cmd %s\n", access("/cmd", F_OK) == 0 ? "visible" : "hidden");
    report_loopback_address();
    printf("ECHO tcp 127.0.0.1 %s\n", tcp_loopback());
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--file=", 7) == 0)
            print_file("ECHO file", argv[i] + 7);
    printf("ECHO done exit=%d\n", exit_code);
    fflush(stdout);
    return exit_code;
}
