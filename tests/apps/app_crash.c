/* tests/apps/app_crash.c — an enclave app that dies of SIGSEGV (init must report the signal). */
#include <signal.h>
#include <stdio.h>

int main(void)
{
    printf("CRASH about to raise SIGSEGV\n");
    fflush(stdout);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}
