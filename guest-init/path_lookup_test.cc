// Unit tests for guest-init/path_lookup.h.
#include <doctest/doctest.h>

#include <errno.h>
#include <map>
#include <vector>

#include "guest-init/path_lookup.h"

using namespace guest_init;

namespace {

// A fake filesystem: path -> probe answer; anything else is ENOENT. Records what was probed.
struct FakeFs {
    std::map<std::string, int> files;
    std::vector<std::string> probed;
    ExecProbe probe()
    {
        return [this](const std::string& candidate) {
            probed.push_back(candidate);
            auto it = files.find(candidate);
            return it == files.end() ? ENOENT : it->second;
        };
    }
};

}

TEST_CASE("lookup_program: the image's PATH order decides")
{
    FakeFs fs;
    fs.files = { { "/opt/app/bin/tool", 0 }, { "/usr/bin/tool", 0 } };
    PathLookup r = lookup_program("tool", "/opt/app/bin:/usr/bin", fs.probe());
    CHECK(r.error == 0);
    CHECK(r.path == "/opt/app/bin/tool");
    r = lookup_program("tool", "/usr/bin:/opt/app/bin", fs.probe());
    CHECK(r.path == "/usr/bin/tool");
}

TEST_CASE("lookup_program: a name with a slash is used as is, without probing")
{
    FakeFs fs;
    PathLookup r = lookup_program("./run.sh", "/usr/bin", fs.probe());
    CHECK(r.error == 0);
    CHECK(r.path == "./run.sh");
    r = lookup_program("/abs/app", "/usr/bin", fs.probe());
    CHECK(r.path == "/abs/app");
    CHECK(fs.probed.empty());
}

TEST_CASE("lookup_program: not executable candidates are skipped; EACCES when nothing else")
{
    FakeFs fs;
    fs.files = { { "/a/tool", EACCES }, { "/b/tool", 0 } };
    PathLookup r = lookup_program("tool", "/a:/b", fs.probe());
    CHECK(r.path == "/b/tool");
    r = lookup_program("tool", "/a:/c", fs.probe());
    CHECK(r.error == EACCES);
    r = lookup_program("missing", "/a:/b", fs.probe());
    CHECK(r.error == ENOENT);
}

TEST_CASE("lookup_program: empty entries mean the working directory, trailing slashes are fine")
{
    FakeFs fs;
    lookup_program("tool", "/a/::/b/", fs.probe());
    CHECK(fs.probed == std::vector<std::string> { "/a/tool", "tool", "/b/tool" });
    fs.probed.clear();
    lookup_program("tool", "", fs.probe());
    CHECK(fs.probed == std::vector<std::string> { "tool" });
}

TEST_CASE("lookup_program: an empty name is not found")
{
    FakeFs fs;
    CHECK(lookup_program("", "/bin", fs.probe()).error == ENOENT);
    CHECK(fs.probed.empty());
}

TEST_CASE("probe_executable on the real filesystem")
{
    CHECK(probe_executable("/bin/sh") == 0);
    CHECK(probe_executable("/nonexistent/xyz") == ENOENT);
    CHECK(probe_executable("/") == EACCES);         // a directory
    CHECK(probe_executable("/etc/passwd") == EACCES); // not executable
}
