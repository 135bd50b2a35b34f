// The host attestation root in a temp state directory (attestation_keys.h): made once, loaded
// after, exact modes, one root when several callers race, and a planted symlink, a world-writable
// directory or an exposed key refused. As root (the enclave daemon's case); a non-root caller is
// covered by tests/integration/attestation_cli.sh with setpriv.
#include "vmm/enclave/attestation_keys.h"

#include "base/error.h"
#include "vmm/nsm/attestation_document.h"
#include "vmm/testing/temp_state_dir.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using vmm::testing::TempStateDir;

unsigned mode_of(const std::string& path)
{
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string code_of(const std::function<void()>& call)
{
    try {
        call();
    } catch (const base::Error& e) {
        return e.code();
    }
    return "no error";
}

} // namespace

TEST_CASE("attestation keys: the first use makes the root, later uses load the same one, with exact modes")
{
    if (::geteuid() != 0) {
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_ACCESS");
        return;
    }
    TempStateDir state;
    ::umask(077);   // the modes must not depend on the caller's umask
    vmm::nsm::KeyAndCert first = vmm::load_or_create_host_root();
    ::umask(022);
    CHECK(mode_of(state.att) == 0755);
    CHECK(mode_of(state.att + "/private") == 0700);
    CHECK(mode_of(state.att + "/private/root.key") == 0600);
    CHECK(mode_of(state.att + "/root.crt") == 0644);
    CHECK(slurp(state.att + "/private/root.key") == first.key_pem);
    CHECK(slurp(state.att + "/root.crt") == first.cert_pem);
    CHECK(first.cert_pem.find("-----BEGIN CERTIFICATE-----") == 0);
    CHECK_FALSE(fs::exists(state.att + "/private/root.key.tmp"));

    vmm::nsm::KeyAndCert second = vmm::load_or_create_host_root();
    CHECK(second.key_pem == first.key_pem);
    CHECK(second.cert_pem == first.cert_pem);
    CHECK(vmm::host_root_certificate_pem() == first.cert_pem);

    // A deleted public copy is written again from the private one.
    fs::remove(state.att + "/root.crt");
    CHECK(vmm::host_root_certificate_pem() == first.cert_pem);
    CHECK(slurp(state.att + "/root.crt") == first.cert_pem);
}

TEST_CASE("attestation keys: callers racing on an empty directory end with one root")
{
    if (::geteuid() != 0)
        return;
    TempStateDir state;
    std::vector<std::string> certs(6);
    std::vector<std::string> errors(6);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < certs.size(); ++i)
        threads.emplace_back([&, i] {
            try {
                certs[i] = vmm::load_or_create_host_root().cert_pem;
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    for (std::size_t i = 0; i < certs.size(); ++i) {
        CAPTURE(errors[i]);
        CHECK(errors[i].empty());
        CHECK(certs[i] == certs[0]);
    }
    CHECK(slurp(state.att + "/private/root.crt") == certs[0]);
}

TEST_CASE("attestation keys: a crash between the two writes leaves a certificate without key, replaced on the next start")
{
    if (::geteuid() != 0)
        return;
    TempStateDir state;
    vmm::nsm::KeyAndCert first = vmm::load_or_create_host_root();
    fs::remove(state.att + "/private/root.key");
    std::ofstream(state.att + "/private/root.key.tmp") << "half-written";
    vmm::nsm::KeyAndCert second = vmm::load_or_create_host_root();
    CHECK(second.cert_pem != first.cert_pem);
    CHECK(slurp(state.att + "/root.crt") == second.cert_pem);
}

TEST_CASE("attestation keys: planted symlinks, open modes and foreign owners are refused, never followed")
{
    if (::geteuid() != 0)
        return;
    SUBCASE("a symlink as the key")
    {
        TempStateDir state;
        vmm::load_or_create_host_root();
        std::string victim = state.path + "/victim";
        std::ofstream(victim) << "precious";
        fs::remove(state.att + "/private/root.key");
        fs::create_symlink(victim, state.att + "/private/root.key");
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_UNSAFE");
        CHECK(slurp(victim) == "precious");
        CHECK(fs::is_symlink(state.att + "/private/root.key"));
    }
    SUBCASE("a symlink as the attestation directory")
    {
        TempStateDir state;
        fs::create_directory(state.path + "/elsewhere");
        fs::create_directory_symlink(state.path + "/elsewhere", state.att);
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "STATE_DIR_UNSAFE");
        CHECK(fs::is_empty(state.path + "/elsewhere"));
    }
    SUBCASE("a world-writable state directory")
    {
        TempStateDir state;
        ::chmod(state.path.c_str(), 0777);
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "STATE_DIR_UNSAFE");
        CHECK_FALSE(fs::exists(state.att + "/private"));
    }
    SUBCASE("a private directory others can enter, a key others can read, a key not root's")
    {
        TempStateDir state;
        vmm::load_or_create_host_root();
        ::chmod((state.att + "/private").c_str(), 0755);
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_UNSAFE");
        ::chmod((state.att + "/private").c_str(), 0700);
        ::chmod((state.att + "/private/root.key").c_str(), 0644);
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_UNSAFE");
        ::chmod((state.att + "/private/root.key").c_str(), 0600);
        REQUIRE(::chown((state.att + "/private/root.key").c_str(), 65534, 65534) == 0);
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_UNSAFE");
    }
    SUBCASE("a key that does not match its certificate")
    {
        TempStateDir state;
        vmm::load_or_create_host_root();
        vmm::nsm::KeyAndCert other = vmm::nsm::make_root_ca("other", 0, 2'000'000'000);
        std::ofstream(state.att + "/private/root.key", std::ios::trunc) << other.key_pem;
        CHECK(code_of([] { vmm::load_or_create_host_root(); }) == "ATTESTATION_KEY_CORRUPT");
    }
}

TEST_CASE("issue_enclave_leaf: CN <hostname>-enc<id>, valid from a minute before the start for a year; its documents verify")
{
    if (::geteuid() != 0)
        return;
    TempStateDir state;
    vmm::nsm::KeyAndCert root = vmm::load_or_create_host_root();
    std::time_t start = std::time(nullptr);
    vmm::nsm::KeyAndCert leaf = vmm::issue_enclave_leaf(root, vmm::enclave_module_id(12, ""), start);
    CHECK(vmm::enclave_module_id(12, "") == vmm::host_name() + "-enc12");
    CHECK(vmm::enclave_module_id(12, "00ff") == vmm::host_name() + "-enc12-00ff");

    auto signer = vmm::nsm::DocumentSigner::create(leaf.key_pem, leaf.cert_pem, { root.cert_pem });
    vmm::nsm::DocumentFields fields;
    fields.module_id = vmm::enclave_module_id(12, "");
    fields.timestamp_ms = static_cast<std::uint64_t>(start) * 1000;
    fields.pcrs[0] = eif::Digest {};
    std::string document = signer.sign(fields);
    vmm::nsm::VerifyOptions o;
    o.root_cert_pem = vmm::host_root_certificate_pem();
    for (std::time_t at : { start - 60, start, start + 364L * 24 * 3600 }) {
        o.at = at;
        CHECK(vmm::nsm::verify_document(document, o).payload["module_id"] == vmm::host_name() + "-enc12");
    }
    for (std::time_t at : { start - 61, start + 366L * 24 * 3600 }) {
        o.at = at;
        CHECK(code_of([&] { vmm::nsm::verify_document(document, o); }) == "ATTESTATION_EXPIRED");
    }
}
