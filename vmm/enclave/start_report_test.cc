// StartReport: exactly one "ok <json>\n" or "error <json>\n" line on the ready pipe, then the
// pipe is closed; and the error bodies the launcher shows for a start that failed.
#include "vmm/enclave/start_report.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <string>
#include <unistd.h>

using namespace vmm;

namespace {

struct ReadyPipe {
    int read_end { -1 };
    int write_end { -1 };
    ReadyPipe()
    {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~ReadyPipe() { ::close(read_end); }
    // Everything written until the write end was closed.
    std::string all()
    {
        std::string text;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(read_end, buffer, sizeof buffer)) > 0)
            text.append(buffer, static_cast<std::size_t>(n));
        return text;
    }
};

} // namespace

TEST_CASE("ok: one line with the description, then the pipe is closed; later reports are ignored")
{
    ReadyPipe pipe;
    StartReport report(pipe.write_end);
    CHECK(report.pending());
    report.ok(Json { { "EnclaveID", 3 }, { "State", "RUNNING" } });
    CHECK_FALSE(report.pending());
    report.error(Json { { "code", "LATE" } });
    CHECK(pipe.all() == "ok {\"EnclaveID\":3,\"State\":\"RUNNING\"}\n");
}

TEST_CASE("error: one line with the body; an unreported pipe is closed when the report goes away")
{
    ReadyPipe pipe;
    {
        StartReport report(pipe.write_end);
        report.error(start_error(base::Error(base::ErrorKind::Io, "CONTROL_SOCKET", "cannot bind /run/x.sock")));
    }
    CHECK(pipe.all() == "error {\"code\":\"CONTROL_SOCKET\",\"kind\":4,\"message\":\"cannot bind /run/x.sock\"}\n");

    ReadyPipe silent;
    {
        StartReport moved;
        moved = StartReport(silent.write_end);
        CHECK(moved.pending());
    }
    CHECK(silent.all() == "");
}

TEST_CASE("the error bodies")
{
    CHECK(internal_error(std::runtime_error("bad_alloc")).dump() == "{\"code\":\"INTERNAL\",\"kind\":70,\"message\":\"bad_alloc\"}");

    Json none = no_heartbeat_error(4, 2.5, false);
    CHECK(none["code"] == "NO_HEARTBEAT");
    CHECK(none["kind"] == static_cast<int>(base::ErrorKind::Vm));
    CHECK(none["message"]
        == "enclave 4 sent no boot heartbeat (0xB7 to CID 3 port 9000) within 2.5 s and was stopped; start it with "
           "--debug-mode to keep its console; for a guest without qt-vmm's init, or to wait longer, pass "
           "--heartbeat-timeout SECONDS (0 = do not wait)");

    Json ended = ended_before_heartbeat_error(4, ExitInfo { ExitKind::TripleFault, "vCPU 0" }, true);
    CHECK(ended["code"] == "ENDED_BEFORE_HEARTBEAT");
    CHECK(ended["kind"] == static_cast<int>(base::ErrorKind::Vm));
    CHECK(ended["message"]
        == "enclave 4 ended before its boot heartbeat (triple-fault: vCPU 0); its console: qt-vmm enclave console --enclave-id 4");
}
