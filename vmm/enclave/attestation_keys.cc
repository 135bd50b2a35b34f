// vmm/enclave/attestation_keys.cc — see attestation_keys.h.
#include "vmm/enclave/attestation_keys.h"

#include "base/error.h"
#include "base/file.h"
#include "eif-format/openssl_ptr.h"
#include "vmm/enclave/host_quirks.h"
#include "vmm/enclave/trusted_dir.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

constexpr std::time_t kRootLifetime = 30L * 365 * 24 * 3600 + 7 * 24 * 3600;   // 30 years (with leap days)
constexpr std::time_t kLeafLifetime = 365L * 24 * 3600;
constexpr std::time_t kClockSkew = 60;
constexpr std::time_t kRootBackdate = 3600;
constexpr std::size_t kMaxPem = 64 * 1024;
constexpr const char* kEnv = "QT_VMM_STATE_DIR";

std::string state_dir()
{
    const char* env = std::getenv(kEnv);
    return env && *env ? env : kDefaultStateDir;
}

// Creates `path` 0755 if missing (whatever the umask: others must reach the public certificate).
void make_public_dir(const std::string& path)
{
    if (::mkdir(path.c_str(), 0755) == 0)
        ::chmod(path.c_str(), 0755);
}

[[noreturn]] void unsafe_key(const std::string& path, const std::string& problem)
{
    throw base::Error(base::ErrorKind::Permission, "ATTESTATION_KEY_UNSAFE",
        path + " " + problem + "; it holds the host's attestation key, so qt-vmm will not use or replace it: inspect it, then remove "
            + attestation_dir() + " to make a new root (verifiers must then fetch the new root-cert)");
}

// The private directory: created 0700; must be a real root-owned directory nobody else can enter.
base::UniqueFd open_private_dir(int attestation_fd, const std::string& path)
{
    if (::mkdirat(attestation_fd, "private", 0700) != 0 && errno != EEXIST)
        base::throw_errno("ATTESTATION_KEY_DIR", "cannot create", path);
    int fd = ::openat(attestation_fd, "private", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            unsafe_key(path, "is not a directory (a symbolic link?)");
        base::throw_errno("ATTESTATION_KEY_DIR", "cannot open", path);
    }
    base::UniqueFd dir(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_uid != 0 || (st.st_mode & 077))
        unsafe_key(path, "is not root's alone (owner uid " + std::to_string(st.st_uid) + ", mode "
                + std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7)
                + "; it must be 0700 root)");
    return dir;
}

// The key file, if present: a regular root-owned file nobody else can read or write.
std::optional<std::string> read_key(int private_fd, const std::string& path)
{
    struct stat st {};
    if (::fstatat(private_fd, "root.key", &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return std::nullopt;
        base::throw_errno("ATTESTATION_KEY_READ", "cannot stat", path);
    }
    if (!S_ISREG(st.st_mode))
        unsafe_key(path, "is not a regular file (a symbolic link?)");
    if (st.st_uid != 0 || (st.st_mode & 077))
        unsafe_key(path, "is not root's alone (owner uid " + std::to_string(st.st_uid) + "; it must be mode 0600, owner root)");
    std::optional<std::string> key = read_plain_file(private_fd, "root.key", kMaxPem, true);
    if (!key)
        unsafe_key(path, "could not be read as a plain file");
    return key;
}

// Writes `name` in `dir_fd` as temp + fsync + rename, with exactly `mode`.
void publish(int dir_fd, const std::string& name, const std::string& text, mode_t mode, const std::string& dir_path)
{
    std::string temp = name + ".tmp";
    base::UniqueFd file = create_fresh(dir_fd, temp, mode);
    if (::fchmod(file.get(), mode) != 0)
        base::throw_errno("ATTESTATION_KEY_WRITE", "cannot chmod", dir_path + "/" + temp);
    base::write_all(file.get(), text.data(), text.size(), dir_path + "/" + temp);
    if (::fsync(file.get()) != 0)
        base::throw_errno("ATTESTATION_KEY_WRITE", "cannot fsync", dir_path + "/" + temp);
    if (::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0)
        base::throw_errno("ATTESTATION_KEY_WRITE", "cannot rename into place", dir_path + "/" + name);
    ::fsync(dir_fd);
}

std::string truncated(std::string s, std::size_t max)
{
    if (s.size() > max)
        s.resize(max);
    return s;
}

} // namespace

std::string attestation_dir()
{
    return state_dir() + "/attestation";
}

std::string host_name()
{
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
        return "localhost";
    return name;
}

std::string enclave_module_id(int enclave_id, std::string_view instance)
{
    std::string suffix = "-enc" + std::to_string(enclave_id) + (instance.empty() ? "" : "-" + std::string(instance));
    return truncated(host_name(), 64 - suffix.size()) + suffix;
}

nsm::KeyAndCert load_or_create_host_root()
{
    return load_or_create_parsed_host_root().pem;
}

HostRoot load_or_create_parsed_host_root()
{
    if (::geteuid() != 0)
        throw base::Error(base::ErrorKind::Permission, "ATTESTATION_KEY_ACCESS",
            "the host's attestation key is root's (" + attestation_dir() + "/private): run this as root; any user can print the public "
                                                                           "certificate with `qt-vmm attestation root-cert`");
    std::string state = state_dir();
    std::string dir_path = attestation_dir();
    std::string private_path = dir_path + "/private";
    make_public_dir(state);
    base::UniqueFd state_fd = open_trusted_dir(state, kEnv, "STATE_DIR_UNSAFE");
    make_public_dir(dir_path);
    base::UniqueFd dir = open_trusted_dir(dir_path, kEnv, "STATE_DIR_UNSAFE");
    base::UniqueFd private_dir = open_private_dir(dir.get(), private_path);

    base::UniqueFd lock = open_own_file(private_dir.get(), "lock", 0600);
    while (::flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR)
            base::throw_errno("ATTESTATION_KEY_LOCK", "cannot lock", private_path + "/lock");

    HostRoot host_root;
    nsm::KeyAndCert& root = host_root.pem;
    if (std::optional<std::string> key = read_key(private_dir.get(), private_path + "/root.key")) {
        std::optional<std::string> cert = read_plain_file(private_dir.get(), "root.crt", kMaxPem, true);
        root = nsm::KeyAndCert { std::move(*key), cert ? std::move(*cert) : std::string() };
        try {
            host_root.parsed = nsm::parse_key_and_cert(root);
        } catch (const base::Error&) {
            throw base::Error(base::ErrorKind::Crypto, "ATTESTATION_KEY_CORRUPT",
                private_path + "/root.key and root.crt do not belong together (or do not parse); remove " + dir_path
                    + " to make a new root (verifiers must then fetch the new root-cert)");
        }
    } else {
        std::time_t now = std::time(nullptr);
        // Valid from an hour back, so leaves (which start a minute before the enclave) and
        // verifiers with a slightly slow clock are inside it from the first second.
        root = nsm::make_root_ca(truncated("qt-vmm root " + host_name(), 64), now - kRootBackdate, now + kRootLifetime);
        host_root.parsed = nsm::parse_key_and_cert(root);
        // Certificate first: a key on disk always has its certificate beside it.
        publish(private_dir.get(), "root.crt", root.cert_pem, 0644, private_path);
        publish(private_dir.get(), "root.key", root.key_pem, 0600, private_path);
    }
    // The public copy every user reads (rewritten if missing, stale or not a plain root file).
    if (read_plain_file(dir.get(), "root.crt", kMaxPem, true) != root.cert_pem)
        publish(dir.get(), "root.crt", root.cert_pem, 0644, dir_path);
    return host_root;
}

std::string host_root_certificate_pem()
{
    if (::geteuid() == 0)
        return load_or_create_host_root().cert_pem;
    std::string path = attestation_dir() + "/root.crt";
    int dir_fd = ::open(attestation_dir().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    base::UniqueFd dir(dir_fd);
    struct stat dir_st {};
    if (dir_fd < 0 || ::fstat(dir_fd, &dir_st) != 0) {
        if (errno == ENOENT)
            throw base::Error(base::ErrorKind::NotFound, "ATTESTATION_NO_ROOT",
                "this host has no attestation root yet (" + path + "); root makes it on the first enclave start or with `sudo qt-vmm "
                                                                   "attestation root-cert`");
        base::throw_errno("ATTESTATION_ROOT_READ", "cannot open", attestation_dir());
    }
    if (dir_st.st_uid != 0 || (dir_st.st_mode & (S_IWGRP | S_IWOTH)))
        throw base::Error(base::ErrorKind::Permission, "ATTESTATION_ROOT_UNTRUSTED",
            attestation_dir() + " is not root's alone, so its root.crt could be forged; ask the administrator (root) to check it");
    int fd = ::openat(dir_fd, "root.crt", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            throw base::Error(base::ErrorKind::NotFound, "ATTESTATION_NO_ROOT",
                "this host has no attestation root yet (" + path + "); root makes it on the first enclave start or with `sudo qt-vmm "
                                                                   "attestation root-cert`");
        base::throw_errno("ATTESTATION_ROOT_READ", "cannot open", path);
    }
    base::UniqueFd file(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))
        || static_cast<std::size_t>(st.st_size) > kMaxPem)
        throw base::Error(base::ErrorKind::Permission, "ATTESTATION_ROOT_UNTRUSTED",
            path + " is not a plain file that only root can write, so it could be forged; ask the administrator (root) to check it");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    base::pread_exact(fd, text.data(), text.size(), 0, path);
    return text;
}

nsm::KeyAndCert issue_enclave_leaf(const nsm::KeyAndCert& root, const std::string& module_id, std::time_t start)
{
    return nsm::issue_leaf(root, module_id, start - kClockSkew, start + kLeafLifetime);
}

nsm::KeyAndCert issue_enclave_leaf(const nsm::KeyAndCert& root, const std::string& module_id, std::time_t start, eif::PkeyPtr leaf_key)
{
    return nsm::issue_leaf(root, module_id, start - kClockSkew, start + kLeafLifetime, std::move(leaf_key));
}

eif::X509Ptr issue_enclave_leaf_certificate(const nsm::ParsedKeyAndCert& root, const std::string& module_id, std::time_t start, EVP_PKEY* leaf_key)
{
    return nsm::issue_leaf_certificate(root, module_id, start - kClockSkew, start + kLeafLifetime, leaf_key);
}

} // namespace vmm
