#include "vmm/enclave/sandbox_monitor.h"

#include <doctest/doctest.h>
#include <sys/socket.h>

TEST_CASE("refuse_parent_listener: only sockets of root or a qt-vmm member")
{
    struct stat st {};
    st.st_mode = S_IFSOCK | 0755;
    st.st_uid = 0;
    CHECK_FALSE(vmm::refuse_parent_listener(st));
    st.st_uid = 65534; // nobody: never a member here
    REQUIRE(vmm::refuse_parent_listener(st));
    CHECK(vmm::refuse_parent_listener(st)->find("neither root nor a member of group qt-vmm") != std::string::npos);
    st.st_uid = 0;
    st.st_mode = S_IFLNK | 0777; // lstat of a symlink
    REQUIRE(vmm::refuse_parent_listener(st));
    CHECK(vmm::refuse_parent_listener(st)->find("not a Unix socket") != std::string::npos);
    st.st_mode = S_IFREG | 0644;
    CHECK(vmm::refuse_parent_listener(st));
}

TEST_CASE("MonitorClient: a monitor that is gone makes every request fail quietly")
{
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    ::close(pair[0]);
    vmm::MonitorClient client { base::UniqueFd(pair[1]) };
    CHECK_FALSE(client.connect_parent(7000).valid());
    CHECK_FALSE(client.socket_identity());
    CHECK_FALSE(client.write_record("{}"));
    CHECK_FALSE(client.save_console("text"));
    CHECK_FALSE(client.remove_sockets());
}
