// eif-format/testdata/eif_test_util.h — helpers for the eif unit tests: a temp directory, file
// writes, an EIF assembled byte by byte independently of the library (so tests can compare the
// library's output against it), and `openssl` CLI calls that create test keys/certificates.
//
// Usage:
//     eif_test::TempDir dir;
//     std::string bytes = eif_test::hand_built_eif({ {1, "kernel"}, {2, "cmdline"}, {5, "{}"}, {3, "rd"} });
//     eif_test::write_file(dir.path() + "/a.eif", bytes);
//     eif_test::openssl("ecparam -name secp384r1 -genkey -noout -out " + dir.path() + "/k.pem");
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eif_test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return m_path; }
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
// Names of the entries of a directory (to check nothing was left behind).
std::vector<std::string> list_dir(const std::string& path);

struct RawSection {
    std::uint16_t type;
    std::string data;
};
// An EIF v`version` with the sections back to back, written with explicit big-endian byte
// arithmetic and zlib's crc32 (no eif library code).
std::string hand_built_eif(const std::vector<RawSection>& sections, std::uint16_t version = 4, std::uint16_t flags = 0);
// Recomputes the CRC of a (possibly edited) image, again without library code.
void fix_crc(std::string& image);
void put_be64_at(std::string& image, std::size_t offset, std::uint64_t value);
void put_be16_at(std::string& image, std::size_t offset, std::uint16_t value);

// SHA-384 straight from OpenSSL's one-shot EVP_Digest, as lower-case hex / raw bytes.
std::string sha384_raw(const std::string& data);
std::string hex(const std::string& raw);
// hex(SHA384(48 zero bytes ‖ SHA384(data))).
std::string pcr_of(const std::string& data);

// Runs `openssl ARGS` quietly; throws std::runtime_error on failure.
void openssl(const std::string& args);

// Generates key.pem and cert.pem in dir for curve ("prime256v1", "secp384r1", "secp521r1") or
// "rsa"; the certificate is valid for `days` from now.
std::pair<std::string, std::string> make_key_and_cert(const TempDir& dir, const std::string& name, const std::string& curve, int days = 30);

} // namespace eif_test
