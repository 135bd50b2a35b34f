/* tests/guests/kernel_probe.c — a static /init that checks, from inside a booted guest, that the
 * qt-vmm kernel has every feature kernel-config/qt-vmm.config promises (filesystems, sockets,
 * loopback, vsock, event fds, timers, threads, ELF and script binaries, SMP).
 *
 * Prints "PROBE <check> ok" or "PROBE <check> FAIL <why>" per check, then
 * "PROBE DONE passed=N failed=M", then reboots (with reboot=t QEMU -no-reboot exits).
 * Run by tests/integration/kernel_features_tcg.sh under QEMU software emulation. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>  // before linux/vm_sockets.h: older copies of it (the arm64 cross 6.1 headers) need sockaddr
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

static void report(const char* name, int ok, const char* why)
{
    if (ok) {
        passed++;
        printf("PROBE %s ok\n", name);
    } else {
        failed++;
        printf("PROBE %s FAIL %s (errno %d: %s)\n", name, why, errno, strerror(errno));
    }
    fflush(stdout);
}

static int check_mount(const char* fs, const char* dir)
{
    mkdir(dir, 0755);
    return mount(fs, dir, fs, 0, NULL) == 0 || errno == EBUSY;
}

static int check_tmpfs_file(void)
{
    int fd = open("/tmp/probe", O_CREAT | O_RDWR, 0600);
    if (fd < 0 || write(fd, "qt-vmm", 6) != 6)
        return 0;
    char buf[8] = { 0 };
    int ok = pread(fd, buf, 6, 0) == 6 && memcmp(buf, "qt-vmm", 6) == 0;
    close(fd);
    return ok;
}

static int check_unix(void)
{
    int sv[2];
    char c = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    return write(sv[0], "x", 1) == 1 && read(sv[1], &c, 1) == 1 && c == 'x';
}

static int check_loopback_tcp(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return 0;
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        return 0;
    close(s);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7777) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 1) != 0)
        return 0;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr*)&a, sizeof a) != 0)
        return 0;
    int acc = accept(l, NULL, NULL);
    char ch = 0;
    int ok = acc >= 0 && write(c, "y", 1) == 1 && read(acc, &ch, 1) == 1 && ch == 'y';
    close(c), close(acc), close(l);
    return ok;
}

static int check_vsock(void)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    close(s);
    return 1;
}

static int check_event_fds(void)
{
    int ep = epoll_create1(0);
    int ev = eventfd(0, 0);
    int tf = timerfd_create(CLOCK_MONOTONIC, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sf = signalfd(-1, &set, 0);
    if (ep < 0 || ev < 0 || tf < 0 || sf < 0)
        return 0;
    struct itimerspec its = { .it_value = { .tv_nsec = 10 * 1000 * 1000 } };
    timerfd_settime(tf, 0, &its, NULL);
    uint64_t one = 1;
    if (write(ev, &one, 8) != 8)
        return 0;
    kill(getpid(), SIGUSR1);
    int fds[3] = { ev, tf, sf };
    for (int i = 0; i < 3; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.fd = fds[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) != 0)
            return 0;
    }
    int seen = 0;
    for (int rounds = 0; rounds < 10 && seen != 7; rounds++) {
        struct epoll_event out[3];
        int n = epoll_wait(ep, out, 3, 2000);
        for (int i = 0; i < n; i++) {
            char buf[128];
            if (read(out[i].data.fd, buf, sizeof buf) < 0)
                return 0;
            seen |= out[i].data.fd == ev ? 1 : out[i].data.fd == tf ? 2 : 4;
        }
    }
    return seen == 7;
}

static int check_posix_timer(void)
{
    timer_t t;
    struct sigevent sev = { .sigev_notify = SIGEV_NONE };
    if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0)
        return 0;
    struct itimerspec its = { .it_value = { .tv_sec = 5 } }, cur;
    return timer_settime(t, 0, &its, NULL) == 0 && timer_gettime(t, &cur) == 0 && cur.it_value.tv_sec <= 5
        && timer_delete(t) == 0;
}

static void* thread_main(void* arg)
{
    *(int*)arg = 42;
    return NULL;
}

static int check_threads(void)
{
    pthread_t th;
    int value = 0;
    return pthread_create(&th, NULL, thread_main, &value) == 0 && pthread_join(th, NULL) == 0 && value == 42;
}

static int check_script_exec(const char* self)
{
    /* A script whose interpreter is this very program: exercises BINFMT_SCRIPT and BINFMT_ELF. */
    char text[256];
    snprintf(text, sizeof text, "#!%s --script-child\n", self);
    int fd = open("/tmp/script.sh", O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return 0;
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/tmp/script.sh", "/tmp/script.sh", (char*)NULL);
        _exit(1);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 42;
}

int main(int argc, char** argv)
{
    if (argc > 1 && strcmp(argv[1], "--script-child") == 0)
        return 42;

    struct utsname u;
    uname(&u);
    printf("PROBE START kernel %s\n", u.release);
    report("mount-devtmpfs", check_mount("devtmpfs", "/dev"), "mount devtmpfs /dev");
    report("mount-proc", check_mount("proc", "/proc"), "mount proc /proc");
    report("mount-sysfs", check_mount("sysfs", "/sys"), "mount sysfs /sys");
    report("mount-tmpfs", check_mount("tmpfs", "/tmp") && check_tmpfs_file(), "tmpfs /tmp file");
    report("kernel-6.12", strncmp(u.release, "6.12.", 5) == 0, u.release);
    report("nsm-driver", access("/sys/bus/virtio/drivers/nsm", F_OK) == 0, "no virtio driver \"nsm\" (CONFIG_NSM)");
    report("smp", sysconf(_SC_NPROCESSORS_ONLN) >= 2, "fewer than 2 CPUs online");
    report("af-unix", check_unix(), "AF_UNIX socketpair");
    report("ipv4-loopback", check_loopback_tcp(), "TCP over 127.0.0.1");
    report("af-vsock", check_vsock(), "socket(AF_VSOCK)");
    report("event-fds", check_event_fds(), "epoll/eventfd/timerfd/signalfd");
    report("posix-timers", check_posix_timer(), "timer_create");
    report("threads-futex", check_threads(), "pthread_create/join");
    report("elf-and-script-exec", check_script_exec(argv[0]), "exec of a #! script");
    report("no-modules", access("/proc/modules", F_OK) != 0, "/proc/modules exists");
    report("no-pci", access("/sys/bus/pci", F_OK) != 0, "/sys/bus/pci exists");
    report("no-acpi", access("/sys/firmware/acpi", F_OK) != 0, "/sys/firmware/acpi exists");
    printf("PROBE DONE passed=%d failed=%d\n", passed, failed);
    fflush(stdout);
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
