// vmm/testing/temp_state_dir.h — test-only: a fresh state directory (QT_VMM_STATE_DIR) for the
// duration of a test case, root's and 0755 like /var/lib/qt-vmm, removed afterwards.
//
// Usage:
//     vmm::testing::TempStateDir state;          // QT_VMM_STATE_DIR=state.path
//     vmm::load_or_create_host_root();           // lands in state.path + "/attestation"
#pragma once

#include "vmm/testing/vsock_test_sockets.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/stat.h>

namespace vmm::testing {

struct TempStateDir {
    std::string path = vsock_test::temp_dir("state-dir-test");
    std::string att = path + "/attestation";
    TempStateDir()
    {
        ::chmod(path.c_str(), 0755);
        ::setenv("QT_VMM_STATE_DIR", path.c_str(), 1);
    }
    ~TempStateDir()
    {
        ::unsetenv("QT_VMM_STATE_DIR");
        std::filesystem::remove_all(path);
    }
    TempStateDir(const TempStateDir&) = delete;
    TempStateDir& operator=(const TempStateDir&) = delete;
};

} // namespace vmm::testing
