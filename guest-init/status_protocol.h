// guest-init/status_protocol.h — the enclave exit-status protocol shared by the guest init and
// the VMM. libc-only (no C++ library types) so the VMM's vsock backend can include it as is.
//
// Contract (guest side = guest-init's PID 1, parent side = the qt-vmm VMM):
//   1. Boot heartbeat (Nitro's contract, unchanged): the guest connects AF_VSOCK stream to
//      CID 3 (the parent) port 9000, writes the byte 0xB7 and expects 0xB7 back.
//   2. When the app ends (or init cannot start it), the guest connects AF_VSOCK stream to CID 3
//      port 9001 (kStatusPort) and writes exactly one 64-byte StatusRecord (layout below, all
//      integers little-endian). The parent validates it (decode_status_record), records it, and
//      answers ONE byte, kStatusAck (0x06), meaning "recorded"; then either side closes.
//      The guest bounds every step (connect 2 s, send 2 s, ack 2 s) and never blocks on a
//      missing parent: the status may be lost, the VM still ends.
//   3. The guest then prints "app exited with status N" / "app killed by signal N" /
//      "init: <reason>" on the console, calls sync() and reboot(RB_AUTOBOOT). The EIF command
//      line has "reboot=k", so the kernel writes 0xFE to I/O port 0x64 (keyboard-controller
//      reset): the VMM takes that write as the enclave's end. An end without a recorded status
//      means the guest died another way (kernel panic, triple fault, ...).
//
// Record layout (64 bytes):
//   offset 0   char[4]  magic "QTEX"
//   offset 4   u16      version (1)
//   offset 6   u16      kind: 1 = exited (value = exit code 0..255), 2 = killed by signal
//                       (value = signal number, detail = 1 if it dumped core),
//                       3 = init error (value = InitError code, detail = errno or 0)
//   offset 8   i32      value
//   offset 12  u32      detail
//   offset 16  char[48] reason: NUL-terminated, NUL-padded text (init errors; else empty)
//
// Usage (guest):  StatusRecord r = status_exited(3); uint8_t buf[kStatusRecordSize];
//                 encode_status_record(&r, buf);  -> write buf to the socket, read 1 ack byte
// Usage (parent): StatusRecord r; if (decode_status_record(buf, len, &r) == 0) { record r;
//                 write kStatusAck }  else reject (bad magic / version / kind / size)
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace guest_init {

constexpr uint32_t kParentCid = 3;
constexpr uint32_t kHeartbeatPort = 9000;
constexpr uint8_t kHeartbeatByte = 0xB7;
constexpr uint32_t kStatusPort = 9001;
constexpr uint8_t kStatusAck = 0x06;
constexpr uint16_t kStatusVersion = 1;
constexpr size_t kStatusRecordSize = 64;
constexpr size_t kStatusReasonSize = 48; // including the terminating NUL
constexpr char kStatusMagic[4] = { 'Q', 'T', 'E', 'X' };

enum class StatusKind : uint16_t {
    Exited = 1,
    KilledBySignal = 2,
    InitError = 3,
};

// What went wrong when the kind is InitError (the record's value).
enum class InitError : int32_t {
    Internal = 1,         // a system call init relies on failed (mount, fork, ...)
    CmdMissing = 2,       // /cmd does not exist or cannot be read
    CmdEmpty = 3,         // /cmd has no argv[0]
    CmdInvalid = 4,       // /cmd holds a NUL byte
    EnvUnreadable = 5,    // /env exists but cannot be read
    RootfsMissing = 6,    // /rootfs is not a directory
    AppNotFound = 7,      // argv[0] not found through PATH (or the path does not exist)
    ExecFailed = 8,       // execve failed (not executable, bad format, ...)
    BadUser = 9,          // /user names a user or group the image does not have
    BadWorkdir = 10,      // /workdir cannot be created or entered
    BadForward = 11,      // /forward is malformed, or a forwarder cannot listen on its TCP port
};

struct StatusRecord {
    StatusKind kind;
    int32_t value;
    uint32_t detail;
    char reason[kStatusReasonSize]; // always NUL-terminated
};

StatusRecord status_exited(int exit_code);
StatusRecord status_killed(int signal_number, bool core_dumped);
// reason is truncated to kStatusReasonSize - 1 bytes.
StatusRecord status_init_error(InitError error, int errno_value, const char* reason);

// Writes exactly kStatusRecordSize bytes to out.
void encode_status_record(const StatusRecord* record, uint8_t out[kStatusRecordSize]);

// Returns 0 and fills *record, or a negative code: -1 wrong size, -2 bad magic,
// -3 unsupported version, -4 unknown kind, -5 reason not NUL-terminated.
int decode_status_record(const uint8_t* data, size_t size, StatusRecord* record);

// One human line for logs ("exited with status 3", "killed by signal 9",
// "init error 7 (errno 2): app not found: foo"), NUL-terminated, truncated to fit.
void describe_status_record(const StatusRecord* record, char* out, size_t out_size);

} // namespace guest_init
