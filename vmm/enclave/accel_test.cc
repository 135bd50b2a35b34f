// The accelerator names of --accel and of the enclave's "Accel" field.
#include "vmm/enclave/accel.h"

#include <doctest/doctest.h>

#include <string>

using namespace vmm;

TEST_CASE("parse_accel knows kvm and tcg and nothing else; accel_name writes them back")
{
    CHECK(parse_accel("kvm") == Accel::Kvm);
    CHECK(parse_accel("tcg") == Accel::Tcg);
    CHECK_FALSE(parse_accel("KVM").has_value());
    CHECK_FALSE(parse_accel("").has_value());
    CHECK_FALSE(parse_accel("hvf").has_value());
    CHECK(std::string(accel_name(Accel::Kvm)) == "kvm");
    CHECK(std::string(accel_name(Accel::Tcg)) == "tcg");
}
