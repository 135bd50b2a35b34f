// prepare_attestation: the boot PCRs the security module starts with (PCR4 checked against the
// real Nitro document's value, nitro-enclaves.md §5.6), debug mode, the parent's identity and
// role, the module ID, and the signer (root only; a temp state directory holds the host root).
#include "vmm/enclave/attestation_setup.h"

#include "base/error.h"
#include "base/file.h"
#include "base/hex.h"
#include "vmm/testing/temp_state_dir.h"

#include <cbor.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

using namespace vmm;

namespace {

using vmm::testing::TempStateDir;

nsm::Digest filled(std::uint8_t byte)
{
    nsm::Digest d;
    d.fill(byte);
    return d;
}

std::string hex(const nsm::Digest& d) { return base::to_hex(d.data(), d.size()); }

nsm::PcrState pcr(const nsm::NsmModule& module, unsigned index) { return module.pcrs().at(index); }

AttestationInputs inputs()
{
    AttestationInputs in;
    in.pcr0 = filled(0xa0);
    in.pcr1 = filled(0xa1);
    in.pcr2 = filled(0xa2);
    in.parent_id = "i-0936512d5ae6ee91a";
    in.enclave_id = 7;
    return in;
}

} // namespace

TEST_CASE("PCR4 of a parent ID is Nitro's: the real document's value for its instance ID")
{
    CHECK(hex(extend_fresh_pcr("i-0936512d5ae6ee91a"))
        == "5a3e54bd0a5f50b1b5ec641e063a1f1e7e5aadc139f49fd8784afca90a83767ec13dd70b3f2e3f43b8e23355baaa9053");
}

TEST_CASE("production mode: PCR0/1/2 are the image's, 3 zero without a role, 4 the parent, 8 zero unsigned; 0..15 locked")
{
    TempStateDir state;
    EnclaveAttestation a = prepare_attestation(inputs());
    REQUIRE(a.module);
    CHECK(hex(pcr(*a.module, 0).value) == hex(filled(0xa0)));
    CHECK(hex(pcr(*a.module, 1).value) == hex(filled(0xa1)));
    CHECK(hex(pcr(*a.module, 2).value) == hex(filled(0xa2)));
    CHECK(hex(pcr(*a.module, 3).value) == hex(nsm::Digest {}));
    CHECK(hex(pcr(*a.module, 4).value) == hex(extend_fresh_pcr("i-0936512d5ae6ee91a")));
    CHECK(hex(pcr(*a.module, 8).value) == hex(nsm::Digest {}));
    for (unsigned i = 0; i < nsm::kPcrCount; ++i)
        CHECK(pcr(*a.module, i).locked == (i < nsm::kPcrsLockedAtBoot));
    CHECK(a.description["ParentID"] == "i-0936512d5ae6ee91a");
    CHECK(a.description["ParentRole"].is_null());
    std::string id = a.description["ModuleID"];
    CHECK(id.find("-enc7-") != std::string::npos);
    CHECK(id.size() == id.find("-enc7-") + 6 + 16); // 8 random bytes in hex
    CHECK(prepare_attestation(inputs()).description["ModuleID"] != id); // unique per start
}

TEST_CASE("debug mode: the image PCRs are zeros, the others stay")
{
    TempStateDir state;
    AttestationInputs in = inputs();
    in.debug_mode = true;
    in.parent_role = "arn:aws:iam::123456789012:role/app";
    in.pcr8 = filled(0x88);
    EnclaveAttestation a = prepare_attestation(in);
    for (unsigned i : { 0u, 1u, 2u })
        CHECK(hex(pcr(*a.module, i).value) == hex(nsm::Digest {}));
    CHECK(hex(pcr(*a.module, 3).value) == hex(extend_fresh_pcr("arn:aws:iam::123456789012:role/app")));
    CHECK(hex(pcr(*a.module, 8).value) == hex(filled(0x88)));
    CHECK(a.description["ParentRole"] == "arn:aws:iam::123456789012:role/app");
}

TEST_CASE("without --parent-id, PCR4 is /etc/machine-id's, or zeros where there is none")
{
    TempStateDir state;
    AttestationInputs in = inputs();
    in.parent_id.reset();
    EnclaveAttestation a = prepare_attestation(in);
    std::string id;
    try {
        id = base::read_file(kMachineIdPath, 4096);
    } catch (const base::Error&) {
    }
    while (!id.empty() && id.back() == '\n')
        id.pop_back();
    if (id.empty()) {
        CHECK(hex(pcr(*a.module, 4).value) == hex(nsm::Digest {}));
        CHECK(a.description["ParentID"].get<std::string>().find("none: ") == 0);
    } else {
        CHECK(hex(pcr(*a.module, 4).value) == hex(extend_fresh_pcr(id)));
        CHECK(a.description["ParentID"] == id);
    }
}

TEST_CASE("empty or oversized parent fields are refused with the option's name")
{
    TempStateDir state;
    AttestationInputs in = inputs();
    in.parent_id = "";
    CHECK_THROWS_WITH_AS(prepare_attestation(in), doctest::Contains("--parent-id"), base::Error);
    in = inputs();
    in.parent_role = std::string(1025, 'r');
    CHECK_THROWS_WITH_AS(prepare_attestation(in), doctest::Contains("--parent-role"), base::Error);
}

TEST_CASE("as root the module signs documents; DescribeNSM answers with the module ID")
{
    if (::geteuid() != 0)
        return; // the signer exists only for root starts (checked below for the other case)
    TempStateDir state;
    EnclaveAttestation a = prepare_attestation(inputs());
    CHECK(a.description["Signing"].get<std::string>().find("host root CA") == 0);
    // {"Attestation": {"user_data": null, "nonce": h'01', "public_key": null}}
    auto raw = base::from_hex("a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e636541016a7075626c69635f6b6579f6");
    REQUIRE(raw);
    std::string response = a.module->handle(std::string(raw->begin(), raw->end()));
    cbor_load_result result {};
    cbor_item_t* item = cbor_load(reinterpret_cast<const unsigned char*>(response.data()), response.size(), &result);
    REQUIRE(item != nullptr);
    REQUIRE(cbor_isa_map(item));
    REQUIRE(cbor_map_size(item) == 1);
    cbor_pair* pairs = cbor_map_handle(item);
    std::string key(reinterpret_cast<const char*>(cbor_string_handle(pairs[0].key)), cbor_string_length(pairs[0].key));
    CHECK(key == "Attestation");
    cbor_decref(&item);
}

TEST_CASE("a start by a user who is not root gets no signer, and the description says why")
{
    if (::geteuid() != 0)
        return;
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            ::_exit(2);
        try {
            EnclaveAttestation a = prepare_attestation(inputs());
            std::string signing = a.description["Signing"];
            ::_exit(signing.find("unavailable: started by uid 65534") == 0 ? 0 : 3);
        } catch (...) {
            ::_exit(4);
        }
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
