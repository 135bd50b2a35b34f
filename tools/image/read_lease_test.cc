#include "tools/image/content_sources.h"
#include "tools/image/read_lease.h"

#include "base/error.h"
#include "base/file.h"
#include "tools/image/testdata/scratch_dir.h"

#include <doctest/doctest.h>

#include <chrono>
#include <fcntl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using image_test::ScratchDir;

// False, with a message saying the test was skipped, where leases are switched off.
bool leases_enabled()
{
    std::string value = base::read_file("/proc/sys/fs/leases-enable", 16);
    if (!value.empty() && value[0] != '0')
        return true;
    MESSAGE("skipped: fs.leases-enable is 0 on this machine");
    return false;
}

// A scratch file holding `text`, open read-only.
struct BlobFile {
    ScratchDir dir;
    std::string path;
    base::UniqueFd fd;
    explicit BlobFile(const std::string& text)
        : path((dir.path / "blob").string())
    {
        image_test::write_text(path, text);
        fd = base::open_read(path);
    }
};

// A child that opens `path` for writing (which waits while our lease is being broken), writes
// one byte and exits 0.
pid_t spawn_writer(const std::string& path)
{
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        _exit(fd >= 0 && ::pwrite(fd, "X", 1, 0) == 1 ? 0 : 1);
    }
    return pid;
}

// Waits (bounded: the kernel breaks a lease within /proc/sys/fs/lease-break-time anyway) until
// the lease is no longer intact.
bool wait_broken(const image::ReadLease& lease)
{
    for (int i = 0; i < 3000; ++i) {
        if (!lease.intact())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

} // namespace

TEST_CASE("ReadLease: held on our own read-only file; refused while the file is open for writing")
{
    if (!leases_enabled())
        return;
    BlobFile blob_file("bytes");
    const std::string& path = blob_file.path;
    const base::UniqueFd& fd = blob_file.fd;
    {
        std::optional<image::ReadLease> lease = image::ReadLease::take(fd.get());
        REQUIRE(lease.has_value());
        CHECK(lease->intact());
        CHECK(::fcntl(fd.get(), F_GETLEASE) == F_RDLCK);
        image::ReadLease moved = std::move(*lease);
        CHECK(moved.intact());
        CHECK_FALSE(lease->intact()); // moved from: owns nothing
    }
    CHECK(::fcntl(fd.get(), F_GETLEASE) == F_UNLCK); // released with its owner

    base::UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(writer.valid());
    CHECK_FALSE(image::ReadLease::take(fd.get()).has_value());
    base::UniqueFd read_write(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    CHECK_FALSE(image::ReadLease::take(read_write.get()).has_value());
}

TEST_CASE("ReadLease: a writer opening the file breaks it, waits until we let go, and the blob is reported changed")
{
    if (!leases_enabled())
        return;
    BlobFile blob_file("original");
    const std::string& path = blob_file.path;
    const base::UniqueFd& fd = blob_file.fd;
    std::optional<image::ReadLease> lease = image::ReadLease::take(fd.get());
    REQUIRE(lease.has_value());
    pid_t child = spawn_writer(path);
    REQUIRE(wait_broken(*lease));
    // The writer is still waiting for us: the bytes are as they were.
    char now[8] {};
    base::pread_exact(fd.get(), now, 8, 0, "blob");
    CHECK(std::string(now, 8) == "original");
    lease.reset(); // letting go lets the writer through
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    base::pread_exact(fd.get(), now, 8, 0, "blob");
    CHECK(std::string(now, 8) == "Xriginal");
}

TEST_CASE("ContentSources: one source per leased file; a blob opened for writing fails verify() with its name")
{
    if (!leases_enabled())
        return;
    BlobFile blob_file("original");
    const std::string& path = blob_file.path;
    const base::UniqueFd& fd = blob_file.fd;
    image::SpillFile spill(path);
    pid_t child = -1;
    {
        image::ContentSources sources(spill);
        image::BlobRange blob { .fd = fd.get(), .offset = 0, .size = 8, .name = "layout:blobs/sha256/ab12" };
        REQUIRE(sources.in_place(blob) == 1u);
        CHECK(sources.in_place(blob) == 1u); // the same file again (layers of one archive): the same source
        CHECK(sources.fd(1) == fd.get());
        CHECK(sources.fd(0) == spill.fd());
        CHECK_NOTHROW(sources.verify());

        child = spawn_writer(path);
        bool reported = false;
        for (int i = 0; i < 3000 && !reported; ++i) {
            try {
                sources.verify();
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            } catch (const base::Error& e) {
                reported = true;
                CHECK(e.code() == "IMG_BLOB_CHANGED");
                CHECK(std::string(e.what()).find("layout:blobs/sha256/ab12") != std::string::npos);
            }
        }
        CHECK(reported);
    } // the sources let go of the lease: the writer goes on
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
