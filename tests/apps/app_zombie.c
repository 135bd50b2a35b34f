/* tests/apps/app_zombie.c — an enclave app that leaves an orphan: its child forks a grandchild
 * and exits at once, so the grandchild is re-parented to PID 1 and ends there. Init must reap
 * it; the app watches /proc/<pid> and prints "ZOMBIE grandchild reaped" (exit 0) or
 * "ZOMBIE grandchild not reaped" (exit 1) after 10 s. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(void)
{
    int fds[2];
    if (pipe(fds))
        return 2;
    pid_t child = fork();
    if (child == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0) {
            sleep_ms(300);
            _exit(0);
        }
        (void)!write(fds[1], &grandchild, sizeof grandchild);
        _exit(0);
    }
    pid_t grandchild = 0;
    if (read(fds[0], &grandchild, sizeof grandchild) != sizeof grandchild)
        return 2;
    waitpid(child, NULL, 0);
    printf("ZOMBIE grandchild pid %d\n", (int)grandchild);
    fflush(stdout);
    char path[64], state = '?';
    snprintf(path, sizeof path, "/proc/%d/stat", (int)grandchild);
    for (int i = 0; i < 200; i++) {
        FILE* f = fopen(path, "r");
        if (!f) {
            printf("ZOMBIE grandchild reaped\n");
            return 0;
        }
        char buf[512] = { 0 };
        if (fgets(buf, sizeof buf, f)) {
            char* p = strrchr(buf, ')');
            if (p && p[1] == ' ')
                state = p[2];
        }
        fclose(f);
        sleep_ms(50);
    }
    printf("ZOMBIE grandchild not reaped (state %c)\n", state);
    return 1;
}
