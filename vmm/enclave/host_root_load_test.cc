// HostRootLoad: the root loaded on a thread is the host root itself, an error waits for take()
// (a bad EIF is still reported before an unsafe state directory), and one not started loads in
// place.
#include "vmm/enclave/host_root_load.h"

#include "base/error.h"
#include "vmm/enclave/attestation_keys.h"
#include "vmm/testing/temp_state_dir.h"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

using vmm::HostRootLoad;
using vmm::testing::TempStateDir;

TEST_CASE("HostRootLoad: started, then taken, it is the host root; not started, take() loads it in place")
{
    if (::geteuid() != 0) {
        HostRootLoad nothing = HostRootLoad::start(); // not root: no thread, take() loads in place and is refused
        CHECK_THROWS_AS(nothing.take(), base::Error);
        return;
    }
    TempStateDir state;
    vmm::nsm::KeyAndCert reference = vmm::load_or_create_host_root();

    HostRootLoad early = HostRootLoad::start();
    HostRootLoad moved = std::move(early); // as the launcher's return value is: the thread keeps its result
    vmm::nsm::KeyAndCert root = moved.take();
    CHECK(root.key_pem == reference.key_pem);
    CHECK(root.cert_pem == reference.cert_pem);

    HostRootLoad in_place;
    CHECK(in_place.take().cert_pem == reference.cert_pem);
}

TEST_CASE("HostRootLoad: an unsafe state directory is reported by take(), not by start()")
{
    if (::geteuid() != 0)
        return;
    TempStateDir state;
    ::chmod(state.path.c_str(), 0777);
    HostRootLoad load = HostRootLoad::start(); // must not throw: the launcher still measures the EIF first
    try {
        load.take();
        FAIL("an unsafe state directory was accepted");
    } catch (const base::Error& e) {
        CHECK(std::string(e.code()) == "STATE_DIR_UNSAFE");
    }
}

TEST_CASE("HostRootLoad: dropped untaken (a start that failed earlier), it joins its thread")
{
    if (::geteuid() != 0)
        return;
    TempStateDir state;
    {
        HostRootLoad untaken = HostRootLoad::start();
    } // joins and wipes; a thread left running would abort the process here (std::thread)
    CHECK(vmm::load_or_create_host_root().cert_pem == vmm::host_root_certificate_pem());
}
