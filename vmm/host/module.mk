# vmm/host/ and vmm/placement/: what the host offers an enclave (CPU topology, hugepage pools
# read from sysfs) and where an enclave goes (QingTian placement rules). Pure code with a
# configurable sysfs root, so the unit tests run on fake sysfs trees.
LIBRARIES += vmmhost
vmmhost_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/host/*.cc vmm/placement/*.cc))

UNIT_TESTS += vmmhost_test
vmmhost_test_SRCS := $(wildcard vmm/host/*_test.cc vmm/placement/*_test.cc) tests/doctest_main.cc
vmmhost_test_LIBS := vmmhost base

# The CPU-list parser reads text from sysfs (and, through the lifecycle code, from users).
FUZZERS += cpu_list_fuzz
cpu_list_fuzz_SRCS := vmm/host/cpu_list_fuzz.cc
cpu_list_fuzz_LIBSRCS := vmm/host/cpu_list.cc base/error.cc
