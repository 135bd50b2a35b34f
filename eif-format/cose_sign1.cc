// eif-format/cose_sign1.cc — see cose_sign1.h.
#include "eif-format/cose_sign1.h"

#include "base/error.h"
#include "eif-format/cbor_util.h"
#include "eif-format/openssl_ptr.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <vector>

namespace eif {

namespace {

[[noreturn]] void crypto_error(const std::string& code, const std::string& message)
{
    ERR_clear_error();
    throw base::Error(base::ErrorKind::Crypto, code, message);
}

CborPtr bstr(std::string_view bytes)
{
    return cbor_own(cbor_build_bytestring(reinterpret_cast<cbor_data>(bytes.data()), bytes.size()));
}

const unsigned char* bytes_of(std::string_view s)
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

} // namespace

std::string cose_protected_header(int algorithm)
{
    CborPtr map = cbor_own(cbor_new_definite_map(1));
    CborPtr value = algorithm < 0 ? cbor_own(cbor_build_negint8(static_cast<std::uint8_t>(-1 - algorithm)))
                                  : cbor_own(cbor_build_uint8(static_cast<std::uint8_t>(algorithm)));
    cbor_put(map.get(), cbor_own(cbor_build_uint8(1)), std::move(value));
    return cbor_serialize(map.get());
}

std::string cose_sig_structure(std::string_view protected_bytes, std::string_view payload)
{
    CborPtr array = cbor_own(cbor_new_definite_array(4));
    cbor_push(array.get(), cbor_own(cbor_build_string("Signature1")));
    cbor_push(array.get(), bstr(protected_bytes));
    cbor_push(array.get(), bstr(std::string_view()));
    cbor_push(array.get(), bstr(payload));
    return cbor_serialize(array.get());
}

std::string cose_sign1_encode(std::string_view protected_bytes, std::string_view payload, std::string_view signature)
{
    CborPtr cose = cbor_own(cbor_new_definite_array(4));
    cbor_push(cose.get(), bstr(protected_bytes));
    cbor_push(cose.get(), cbor_own(cbor_new_definite_map(0)));
    cbor_push(cose.get(), bstr(payload));
    cbor_push(cose.get(), bstr(signature));
    return cbor_serialize(cose.get());
}

std::string ecdsa_sign_raw(EVP_PKEY* key, const char* digest, std::size_t coordinate_size, std::string_view message)
{
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t der_length = 0;
    if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) != 1
        || EVP_DigestSign(ctx.get(), nullptr, &der_length, bytes_of(message), message.size()) != 1)
        crypto_error("SIGN_FAILED", "ECDSA signing failed");
    std::vector<unsigned char> der(der_length);
    if (EVP_DigestSign(ctx.get(), der.data(), &der_length, bytes_of(message), message.size()) != 1)
        crypto_error("SIGN_FAILED", "ECDSA signing failed");
    const unsigned char* p = der.data();
    EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_length)));
    if (!sig)
        crypto_error("SIGN_FAILED", "ECDSA produced an unparsable signature");
    std::string raw(2 * coordinate_size, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, static_cast<int>(coordinate_size)) < 0
        || BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + coordinate_size, static_cast<int>(coordinate_size)) < 0)
        crypto_error("SIGN_FAILED", "ECDSA signature does not fit the curve size");
    return raw;
}

bool ecdsa_verify_raw(EVP_PKEY* key, const char* digest, std::size_t coordinate_size, std::string_view raw, std::string_view message)
{
    if (raw.size() != 2 * coordinate_size)
        return false;
    EcdsaSigPtr sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes_of(raw), static_cast<int>(coordinate_size), nullptr);
    BIGNUM* s = BN_bin2bn(bytes_of(raw) + coordinate_size, static_cast<int>(coordinate_size), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        crypto_error("OPENSSL_FAILED", "OpenSSL could not build an ECDSA signature");
    }
    unsigned char* der = nullptr;
    int der_length = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_length <= 0)
        crypto_error("OPENSSL_FAILED", "OpenSSL could not encode an ECDSA signature");
    MdCtxPtr ctx(EVP_MD_CTX_new());
    int rc = ctx ? EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) : 0;
    if (rc == 1)
        rc = EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_length), bytes_of(message), message.size());
    OPENSSL_free(der);
    ERR_clear_error();
    return rc == 1;
}

} // namespace eif
