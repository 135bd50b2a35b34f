#include "eif-format/testdata/eif_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <openssl/evp.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <zlib.h>

namespace eif_test {

TempDir::TempDir()
{
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/eif-test.XXXXXX";
    if (!::mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed");
    m_path = tmpl;
}

TempDir::~TempDir()
{
    std::string cmd = "rm -rf '" + m_path + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
}

void write_file(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool file_exists(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& path)
{
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d)
        return names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..")
            names.push_back(n);
    }
    ::closedir(d);
    return names;
}

void put_be64_at(std::string& image, std::size_t offset, std::uint64_t value)
{
    for (int i = 0; i < 8; ++i)
        image[offset + i] = static_cast<char>((value >> (56 - 8 * i)) & 0xff);
}

void put_be16_at(std::string& image, std::size_t offset, std::uint16_t value)
{
    image[offset] = static_cast<char>(value >> 8);
    image[offset + 1] = static_cast<char>(value & 0xff);
}

void fix_crc(std::string& image)
{
    const auto* p = reinterpret_cast<const Bytef*>(image.data());
    uLong crc = ::crc32(0, p, 0x220);
    crc = ::crc32(crc, p + 0x224, static_cast<uInt>(image.size() - 0x224));
    for (int i = 0; i < 4; ++i)
        image[0x220 + i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
}

std::string hand_built_eif(const std::vector<RawSection>& sections, std::uint16_t version, std::uint16_t flags)
{
    std::string image(548, '\0');
    image.replace(0, 4, ".eif");
    put_be16_at(image, 4, version);
    put_be16_at(image, 6, flags);
    put_be64_at(image, 8, 1ull << 30);
    put_be64_at(image, 16, 2);
    put_be16_at(image, 26, static_cast<std::uint16_t>(sections.size()));
    for (std::size_t i = 0; i < sections.size(); ++i) {
        put_be64_at(image, 28 + 8 * i, image.size());
        put_be64_at(image, 284 + 8 * i, sections[i].data.size());
        std::string header(12, '\0');
        put_be16_at(header, 0, sections[i].type);
        put_be64_at(header, 4, sections[i].data.size());
        image += header;
        image += sections[i].data;
    }
    fix_crc(image);
    return image;
}

std::string sha384_raw(const std::string& data)
{
    unsigned char out[48];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha384(), nullptr) != 1 || len != 48)
        throw std::runtime_error("EVP_Digest failed");
    return std::string(reinterpret_cast<char*>(out), 48);
}

std::string hex(const std::string& raw)
{
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string pcr_of(const std::string& data)
{
    return hex(sha384_raw(std::string(48, '\0') + sha384_raw(data)));
}

void openssl(const std::string& args)
{
    std::string cmd = "openssl " + args + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
        throw std::runtime_error("command failed: " + cmd);
}

std::pair<std::string, std::string> make_key_and_cert(const TempDir& dir, const std::string& name, const std::string& curve, int days)
{
    std::string key = dir.file(name + "-key.pem");
    std::string cert = dir.file(name + "-cert.pem");
    if (curve == "rsa")
        openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + key);
    else
        openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:" + curve + " -out " + key);
    openssl("req -new -x509 -key " + key + " -out " + cert + " -days " + std::to_string(days)
        + " -subj '/C=US/O=qt-vmm test/CN=" + name + "'");
    return { key, cert };
}

} // namespace eif_test
