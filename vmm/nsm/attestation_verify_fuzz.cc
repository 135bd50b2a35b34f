// libFuzzer target: verify_document on hostile bytes (documents come from guests and from
// whoever hands one to `qt-vmm attestation verify`). Any input must give a VerifiedDocument or a
// base::Error — no crash, no other exception, no leak. The trust anchor is AWS's Nitro root
// (public), at the issue time of the real sample, so the seed from
// vmm/nsm/testdata/nitro_sample_document.cbor passes every check and mutations reach each one.
// Seeds: vmm/nsm/make_attestation_fuzz_seeds.sh (`make fuzz`).
#include "base/error.h"
#include "vmm/nsm/attestation_document.h"

#include <cstddef>
#include <cstdint>

namespace {

constexpr const char* kNitroRootG1 = R"(-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
)";

vmm::nsm::VerifyOptions options()
{
    vmm::nsm::VerifyOptions o;
    o.root_cert_pem = kNitroRootG1;
    o.at = 1658860752;
    o.expected_pcrs[4] = "5a3e54bd0a5f50b1b5ec641e063a1f1e7e5aadc139f49fd8784afca90a83767ec13dd70b3f2e3f43b8e23355baaa9053";
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const vmm::nsm::VerifyOptions o = options();
    try {
        vmm::nsm::verify_document(std::string_view(reinterpret_cast<const char*>(data), size), o);
    } catch (const base::Error&) {
    }
    return 0;
}
