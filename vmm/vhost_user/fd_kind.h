// vmm/vhost_user/fd_kind.h — what the file descriptors a vhost-user frontend hands over really
// are. The frontend (QEMU, or whoever connects to the socket) is not trusted: a kick or call fd
// must be an eventfd (a pipe or socket would let it block or flood the backend), and a memory
// region's file must be sealed against shrinking (F_SEAL_SHRINK), or truncating it later would
// turn our accesses into SIGBUS.
//
// Usage:
//     if (!vmm::vhost_user::is_eventfd(fd)) refuse("pass an eventfd");
//     if (!vmm::vhost_user::sealed_against_shrinking(fd)) refuse("use memory-backend-memfd");
#pragma once

namespace vmm::vhost_user {

// /proc/self/fd/N names "anon_inode:[eventfd]". Without /proc (an empty root after a privilege
// drop) any anonymous-inode fd is taken (eventfd, timerfd, signalfd, epoll: none of them blocks
// a non-blocking write or a read for long); pipes, sockets and files never are.
bool is_eventfd(int fd);

// The file carries F_SEAL_SHRINK (QEMU's memory-backend-memfd seals by default, seal=on).
bool sealed_against_shrinking(int fd);

} // namespace vmm::vhost_user
