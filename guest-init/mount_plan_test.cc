// Unit tests for guest-init/mount_plan.h: the plan has what Nitro's init mounts, in an order
// that works (parents before children), with sane flags.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <sys/mount.h>

#include "guest-init/mount_plan.h"

using namespace guest_init;

namespace {

int index_of(std::span<const MountStep> plan, std::string_view target)
{
    for (size_t i = 0; i < plan.size(); i++) {
        if (target == plan[i].target)
            return int(i);
    }
    return -1;
}

}

TEST_CASE("early plan: devtmpfs on /dev, already-mounted is fine")
{
    auto plan = early_mount_plan();
    REQUIRE(plan.size() == 1);
    CHECK(std::string_view(plan[0].fstype) == "devtmpfs");
    CHECK(std::string_view(plan[0].target) == "/dev");
    CHECK(plan[0].busy_ok);
}

TEST_CASE("new-root plan: every filesystem the app expects, with the right types")
{
    auto plan = new_root_mount_plan();
    struct Expected {
        const char* target;
        const char* fstype;
    };
    for (auto e : { Expected { "/dev", "devtmpfs" }, Expected { "/proc", "proc" }, Expected { "/sys", "sysfs" },
             Expected { "/dev/pts", "devpts" }, Expected { "/dev/shm", "tmpfs" }, Expected { "/tmp", "tmpfs" },
             Expected { "/run", "tmpfs" } }) {
        int i = index_of(plan, e.target);
        REQUIRE_MESSAGE(i >= 0, e.target);
        CHECK(plan[i].action == MountStep::Action::Mount);
        CHECK(std::string_view(plan[i].fstype) == e.fstype);
        CHECK((plan[i].flags & MS_NOSUID) != 0);
    }
    for (auto link : { "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr" }) {
        int i = index_of(plan, link);
        REQUIRE_MESSAGE(i >= 0, link);
        CHECK(plan[i].action == MountStep::Action::Symlink);
        CHECK(std::string_view(plan[i].source).starts_with("/proc/self/fd"));
    }
}

TEST_CASE("new-root plan: parents come first, every target is absolute and unique")
{
    auto plan = new_root_mount_plan();
    for (size_t i = 0; i < plan.size(); i++) {
        std::string target = plan[i].target;
        CHECK(target.starts_with("/"));
        CHECK(index_of(plan, target) == int(i));
        // Anything under /dev comes after /dev itself; /dev/fd links need /proc.
        for (size_t j = 0; j < plan.size(); j++) {
            std::string parent = plan[j].target;
            if (target.starts_with(parent + "/") && plan[j].action == MountStep::Action::Mount)
                CHECK_MESSAGE(j < i, target << " before its parent " << parent);
        }
        if (plan[i].action == MountStep::Action::Symlink)
            CHECK(index_of(plan, "/proc") < int(i));
    }
    CHECK(plan[index_of(plan, "/proc")].required);
    CHECK(plan[index_of(plan, "/dev")].required);
    CHECK((plan[index_of(plan, "/proc")].flags & MS_NOEXEC) != 0);
}

TEST_CASE("new-root plan: /tmp and /dev/shm are world-writable with the sticky bit")
{
    auto plan = new_root_mount_plan();
    CHECK(std::string_view(plan[index_of(plan, "/tmp")].data) == "mode=1777");
    CHECK(std::string_view(plan[index_of(plan, "/dev/shm")].data) == "mode=1777");
    CHECK(std::string_view(plan[index_of(plan, "/run")].data) == "mode=0755");
}
