/* tests/apps/app_sleep.c — an enclave app that sleeps until SIGTERM and then exits 0.
 * With "--signal-init" it first sends SIGTERM to PID 1 (the enclave's init), which must forward
 * it back: that is how the boot test exercises init's signal forwarding. Gives up (exit 3)
 * after 30 s. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int sig)
{
    got = sig;
}

int main(int argc, char** argv)
{
    struct sigaction action = { .sa_handler = on_signal };
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGALRM, &action, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("SLEEP ready pid=%d\n", (int)getpid());
    fflush(stdout);
    alarm(30);
    if (argc > 1 && strcmp(argv[1], "--signal-init") == 0)
        kill(1, SIGTERM);
    while (!got)
        sigsuspend(&old);
    if (got == SIGTERM) {
        printf("SLEEP got SIGTERM\n");
        return 0;
    }
    printf("SLEEP timed out\n");
    return 3;
}
