// base/error.h — the one error type every qt-vmm component throws and the CLI reports.
//
// An Error carries a stable machine-readable code (UPPER_SNAKE, never renamed once shipped), a
// one-line message that names the problem and the fix, and a kind that decides the process exit
// status. The CLI prints it as
//     qt-vmm: error [EIF_BAD_CRC]: eif: CRC-32 mismatch at offset 0x220 (...)
// and exits with static_cast<int>(kind).
//
// Usage:
//     throw base::Error(base::ErrorKind::InvalidInput, "EIF_BAD_MAGIC",
//                       "not an EIF: bad magic at offset 0x0; pass an image built by make-img");
#pragma once

#include <stdexcept>
#include <string>

namespace base {

// Exit statuses. Stable: scripts may test them.
enum class ErrorKind : int {
    Usage = 2,        // bad command line
    InvalidInput = 3, // a file or value given by the user is malformed
    Io = 4,           // a file or socket operation failed
    Crypto = 5,       // key, certificate or signature problem
    Resource = 6,     // not enough hugepages, CPUs, enclave slots, ...
    Vm = 7,           // KVM refused something or the guest failed
    NotFound = 8,     // no such enclave, image, ...
    Permission = 9,   // not allowed for this caller
    Internal = 70,    // a bug in qt-vmm
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string code, const std::string& message)
        : std::runtime_error(message)
        , m_kind(kind)
        , m_code(std::move(code))
    {
    }

    ErrorKind kind() const { return m_kind; }
    const std::string& code() const { return m_code; }
    int exit_status() const { return static_cast<int>(m_kind); }

private:
    ErrorKind m_kind;
    std::string m_code;
};

// Throws an Io error naming the operation, the path and strerror(errno).
[[noreturn]] void throw_errno(const std::string& code, const std::string& what, const std::string& path);

} // namespace base
