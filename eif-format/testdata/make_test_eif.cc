// eif-testdata: writes an EIF with the eif library, for tests/integration/eif_commands.sh
// (make-img is the real builder; this only wraps write_eif() so the commands can be exercised
// on images whose every byte the test chose).
//
//     eif-testdata OUT.eif KERNEL CMDLINE RAMDISK... [--name N] [--version V] [--metadata JSONFILE]
//                  [--private-key K --signing-certificate C]
// Prints the Measurements JSON. BuildTime comes from SOURCE_DATE_EPOCH if set.
#include "base/error.h"
#include "eif-format/describe.h"
#include "eif-format/eif_writer.h"

#include <iostream>

int main(int argc, char** argv)
{
    try {
        std::vector<std::string> positional;
        eif::MetadataInput md;
        md.image_name = "test";
        md.image_version = "1.0";
        eif::SigningInput signing;
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc)
                    throw base::Error(base::ErrorKind::Usage, "USAGE", a + " needs a value");
                return argv[++i];
            };
            if (a == "--name")
                md.image_name = next();
            else if (a == "--version")
                md.image_version = next();
            else if (a == "--metadata")
                md.custom_metadata = eif::read_custom_metadata_file(next());
            else if (a == "--private-key")
                signing.private_key_path = next();
            else if (a == "--signing-certificate")
                signing.certificate_path = next();
            else
                positional.push_back(a);
        }
        if (positional.size() < 4)
            throw base::Error(base::ErrorKind::Usage, "USAGE", "usage: eif-testdata OUT KERNEL CMDLINE RAMDISK... [options]");
        eif::BuildRequest req;
        req.kernel_path = positional[1];
        req.cmdline = positional[2];
        md.kernel_config_path = eif::kernel_config_path_for(req.kernel_path);
        req.metadata = eif::build_metadata(md);
        for (std::size_t i = 3; i < positional.size(); ++i)
            req.ramdisks.push_back(eif::SectionSource::file(positional[i]));
        if (!signing.private_key_path.empty() || !signing.certificate_path.empty())
            req.signing = signing;
        eif::Measurements m = eif::write_eif(req, positional[0]);
        std::cout << nlohmann::ordered_json { { "Measurements", eif::measurements_json(m) } }.dump() << "\n";
        return 0;
    } catch (const base::Error& e) {
        std::cerr << "eif-testdata: error [" << e.code() << "]: " << e.what() << "\n";
        return e.exit_status();
    }
}
