/* tests/guests/vhost_user_guest.c — a static /init for tests/integration/vhost_user_qemu.sh: from
 * inside a QEMU guest whose vsock device is served by `qt-vmm vsock vhost-user`, it checks the
 * three ways an enclave talks to its parent (CID 3) and prints one "GUEST ..." line per step:
 *   1. the boot heartbeat: connect to 3:9000, send 0xB7, expect 0xB7 back;
 *   2. enclave -> parent: connect to 3:5000 (the parent listens on <uds>_5000), send a line,
 *      read the parent's answer line;
 *   3. parent -> enclave: listen on port 5001, accept the parent's "CONNECT 5001", read its
 *      line, answer "hello parent";
 *   4. only where QEMU has an NSM device (/dev/nsm, vhost_user_qemu.sh's nsm run): one raw
 *      request through the nsm driver, as libnsm sends it (ioctl 0xC0200A00), printing the
 *      response bytes in hex ("GUEST nsm response=...");
 * then "GUEST done ok=N failed=M" and a reboot (with reboot=k and -device i8042 QEMU exits).
 * Every wait is bounded (10 s per socket operation, 60 s in all) so a broken device ends the VM.
 *
 * Usage (in an initramfs): cp $BUILD/guest/vhost_user_guest root/init; mkdir root/dev */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>  // before linux/vm_sockets.h: older copies of it (the arm64 cross 6.1 headers) need sockaddr
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/time.h>
#include <unistd.h>

#define PARENT_CID 3

static int ok_steps, failed_steps;

static void say(const char* format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)!write(1, line, (size_t)n);
}

static void finish(void)
{
    say("GUEST done ok=%d failed=%d", ok_steps, failed_steps);
    sync();
    reboot(RB_AUTOBOOT);
    for (;;)
        pause();
}

static void on_alarm(int sig)
{
    (void)sig;
    say("GUEST timeout: the whole test took more than 60 s");
    failed_steps++;
    finish();
}

static void step(int ok, const char* what)
{
    if (ok) {
        ok_steps++;
        say("GUEST %s ok", what);
    } else {
        failed_steps++;
        say("GUEST %s FAILED (errno %d: %s)", what, errno, strerror(errno));
    }
}

static void set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = 10, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int vsock_connect(unsigned cid, unsigned port)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd);
    struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Reads up to a newline (not kept) or EOF; returns the length or -1. */
static int read_line(int fd, char* out, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (c == '\n') {
            out[n] = 0;
            return (int)n;
        }
        out[n++] = c;
    }
    out[n] = 0;
    return n ? (int)n : -1;
}

static int write_all(int fd, const char* text)
{
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        done += (size_t)w;
    }
    return 1;
}

static void console(void)
{
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL); /* /dev/vsock; EBUSY if already there */
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

/* The nsm driver's raw ioctl (include/uapi/linux/nsm.h, Linux >= 6.8; not in older headers). */
struct nsm_iovec {
    uint64_t addr;
    uint64_t len;
};
struct nsm_raw {
    struct nsm_iovec request;
    struct nsm_iovec response;
};
#define NSM_IOCTL_RAW 0xC0200A00u

static void nsm_request(void)
{
    int nsm = open("/dev/nsm", O_RDWR | O_CLOEXEC);
    if (nsm < 0) {
        say("GUEST no /dev/nsm (errno %d: %s)", errno, strerror(errno));
        return;
    }
    static const unsigned char request[] = { 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm' }; /* CBOR "GetRandom" */
    static unsigned char response[0x3000];
    struct nsm_raw raw = { { (uintptr_t)request, sizeof request }, { (uintptr_t)response, sizeof response } };
    int rc = ioctl(nsm, NSM_IOCTL_RAW, &raw);
    int error = errno;
    close(nsm);
    char hex[2 * 64 + 1] = "";
    size_t shown = rc == 0 && raw.response.len < 64 ? (size_t)raw.response.len : (rc == 0 ? 64 : 0);
    for (size_t i = 0; i < shown; ++i)
        snprintf(hex + 2 * i, 3, "%02x", response[i]);
    if (rc != 0)
        say("GUEST nsm ioctl failed (errno %d: %s)", error, strerror(error));
    else
        say("GUEST nsm response=%s (%llu bytes)", hex, (unsigned long long)raw.response.len);
    step(rc == 0, "nsm request");
}

int main(void)
{
    console();
    signal(SIGALRM, on_alarm); /* PID 1 ignores signals it has no handler for */
    signal(SIGPIPE, SIG_IGN);
    alarm(60);

    /* The CID the device's config space gave the guest. */
    unsigned local_cid = 0;
    int dev = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (dev >= 0 && ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &local_cid) == 0)
        say("GUEST local cid=%u", local_cid);
    else
        say("GUEST local cid unknown (errno %d: %s)", errno, strerror(errno));
    if (dev >= 0)
        close(dev);

    /* Listen first, so the parent's CONNECT 5001 finds us whenever it comes. */
    int listener = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm any = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = 5001 };
    step(listener >= 0 && bind(listener, (struct sockaddr*)&any, sizeof any) == 0 && listen(listener, 4) == 0, "listen on port 5001");

    /* 1. Heartbeat. */
    int fd = vsock_connect(PARENT_CID, 9000);
    unsigned char beat = 0xB7, back = 0;
    int ok = fd >= 0 && write(fd, &beat, 1) == 1 && read(fd, &back, 1) == 1 && back == 0xB7;
    say("GUEST heartbeat reply=0x%02x", back);
    step(ok, "heartbeat");
    if (fd >= 0)
        close(fd);

    /* 2. Enclave -> parent. */
    char line[256] = "";
    fd = vsock_connect(PARENT_CID, 5000);
    ok = fd >= 0 && write_all(fd, "ping from the enclave\n") && read_line(fd, line, sizeof line) > 0;
    say("GUEST parent answered <%s>", line);
    step(ok && strcmp(line, "pong: ping from the enclave") == 0, "connect to the parent");
    if (fd >= 0)
        close(fd);

    /* 3. Parent -> enclave. */
    struct pollfd p = { .fd = listener, .events = POLLIN };
    fd = -1;
    if (listener >= 0 && poll(&p, 1, 20000) == 1)
        fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    line[0] = 0;
    if (fd >= 0)
        set_timeouts(fd);
    ok = fd >= 0 && read_line(fd, line, sizeof line) > 0;
    say("GUEST parent sent <%s>", line);
    ok = ok && strcmp(line, "hello enclave") == 0 && write_all(fd, "hello parent\n");
    step(ok, "accept from the parent");
    if (fd >= 0) {
        shutdown(fd, SHUT_WR);
        read_line(fd, line, sizeof line); /* until the parent closes */
        close(fd);
    }

    /* 4. The NSM device, if there is one. */
    nsm_request();
    finish();
}
