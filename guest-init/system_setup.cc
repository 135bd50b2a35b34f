// guest-init/system_setup.cc — mounts, switch root, loopback, hostname (see the header).
#include "guest-init/system_setup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace guest_init {

int make_directories(const std::string& path, mode_t mode)
{
    std::string partial;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos + 1);
        partial = path.substr(0, next);
        pos = next == std::string::npos ? path.size() : next;
        if (partial.empty() || partial == "/")
            continue;
        if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST)
            return errno;
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int apply_mount_step(const MountStep& step)
{
    if (step.action == MountStep::Action::Symlink) {
        if (symlink(step.source, step.target) != 0 && errno != EEXIST)
            return errno;
        return 0;
    }
    if (int e = make_directories(step.target, step.dir_mode))
        return e;
    if (mount(step.source, step.target, step.fstype, step.flags, step.data) != 0) {
        if (errno == EBUSY && step.busy_ok)
            return 0;
        return errno;
    }
    return 0;
}

int switch_root(const char* new_root)
{
    if (mount(new_root, new_root, nullptr, MS_BIND | MS_REC, nullptr) != 0)
        return errno;
    if (chdir(new_root) != 0)
        return errno;
    if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
        return errno;
    if (chroot(".") != 0)
        return errno;
    if (chdir("/") != 0)
        return errno;
    return 0;
}

int bring_up_loopback(bool* assigned_address)
{
    *assigned_address = false;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    ifreq ifr {};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    int error = 0;
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        error = errno;
    } else {
        ifr.ifr_flags = short(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
            error = errno;
    }
    if (!error && ioctl(fd, SIOCGIFADDR, &ifr) != 0) {
        // The kernel normally gives lo 127.0.0.1/8 when it goes up; assign it if not.
        auto* addr = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
        addr->sin_family = AF_INET;
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (ioctl(fd, SIOCSIFADDR, &ifr) != 0) {
            error = errno;
        } else {
            *assigned_address = true;
            addr->sin_addr.s_addr = htonl(0xff000000);
            if (ioctl(fd, SIOCSIFNETMASK, &ifr) != 0)
                error = errno;
        }
    }
    close(fd);
    return error;
}

int set_hostname(const char* name)
{
    return sethostname(name, strlen(name)) == 0 ? 0 : errno;
}

int read_small_file(const char* path, std::string& out, size_t max_size)
{
    out.clear();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    char buffer[4096];
    int error = 0;
    while (true) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error = errno;
            break;
        }
        if (n == 0)
            break;
        if (out.size() + size_t(n) > max_size) {
            error = EFBIG;
            break;
        }
        out.append(buffer, size_t(n));
    }
    close(fd);
    return error;
}

} // namespace guest_init
