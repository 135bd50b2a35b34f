// HostRootLoad: the root loaded on a thread is the host root itself, the leaf key made there is
// the one its certificate is issued for, an error waits for take()
// (a bad EIF is still reported before an unsafe state directory), and one not started loads in
// place.
#include "vmm/enclave/host_root_load.h"

#include "base/error.h"
#include "base/hex.h"
#include "vmm/nsm/attestation_document.h"
#include "vmm/enclave/attestation_keys.h"
#include "vmm/testing/temp_state_dir.h"

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>

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

    // The leaf key made on the thread is the one the leaf certificate is issued for.
    eif::PkeyPtr key = moved.take_leaf_key();
    REQUIRE(key);
    REQUIRE(EVP_PKEY_up_ref(key.get()) == 1);
    eif::PkeyPtr kept(key.get());
    vmm::nsm::KeyAndCert leaf = vmm::issue_enclave_leaf(root, "host-enc1-0123456789abcdef", std::time(nullptr), std::move(key));
    BIO* bio = BIO_new_mem_buf(leaf.cert_pem.data(), static_cast<int>(leaf.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    REQUIRE(cert);
    CHECK(X509_check_private_key(cert, kept.get()) == 1);
    X509_free(cert);

    HostRootLoad in_place;
    CHECK(in_place.take().cert_pem == reference.cert_pem);
    CHECK(in_place.take_leaf_key()); // none made ahead: a fresh one now
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

namespace {

// The leaf's certificate (the document's "certificate") names `module_id` and chains to the host root.
void check_signer(vmm::nsm::DocumentSigner& signer, const std::string& module_id)
{
    vmm::nsm::DocumentFields fields;
    fields.module_id = module_id;
    fields.timestamp_ms = static_cast<std::uint64_t>(std::time(nullptr)) * 1000;
    fields.pcrs[0] = eif::Digest {};
    vmm::nsm::VerifyOptions o;
    o.root_cert_pem = vmm::host_root_certificate_pem();
    o.at = std::time(nullptr);
    vmm::nsm::VerifiedDocument verified = vmm::nsm::verify_document(signer.sign(fields), o);
    CHECK(verified.payload["module_id"] == module_id);
    std::optional<std::vector<std::uint8_t>> der = base::from_hex(verified.payload["certificate"].get<std::string>());
    REQUIRE(der);
    const unsigned char* p = der->data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der->size()));
    REQUIRE(cert);
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    CHECK(std::string(cn) == module_id); // the leaf was issued for this enclave
}

} // namespace

TEST_CASE("HostRootLoad: issue_leaf_for makes the signer on the thread; take_signer hands it over, or makes one in place")
{
    if (::geteuid() != 0) {
        HostRootLoad nothing = HostRootLoad::start();
        nothing.issue_leaf_for("x-enc0-00"); // nothing started: a no-op
        CHECK_THROWS_AS(nothing.take_signer("x-enc0-00"), base::Error);
        return;
    }
    TempStateDir state;
    const std::string id = vmm::enclave_module_id(3, "0123456789abcdef");
    HostRootLoad early = HostRootLoad::start();
    early.issue_leaf_for(id);
    HostRootLoad moved = std::move(early); // the order reaches the thread across the move too
    std::shared_ptr<vmm::nsm::DocumentSigner> signer = moved.take_signer(id);
    REQUIRE(signer);
    check_signer(*signer, id);

    // Ordered for one ID, asked for another: issued in place for the one asked.
    HostRootLoad other = HostRootLoad::start();
    other.issue_leaf_for(vmm::enclave_module_id(4, "aa"));
    const std::string id5 = vmm::enclave_module_id(5, "bb");
    check_signer(*other.take_signer(id5), id5);

    // Never started (not root, or a test): everything in place.
    HostRootLoad in_place;
    check_signer(*in_place.take_signer(id), id);

    // Ordered, then dropped untaken (a start that failed after the ID): the thread is joined.
    {
        HostRootLoad ordered = HostRootLoad::start();
        ordered.issue_leaf_for(id);
    }
}
