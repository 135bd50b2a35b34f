# tools/image/: turns a container image (OCI layout, oci/docker archive, or a local docker/podman
# image) into the ramdisks of an enclave image; `qt-vmm enclave make-img` drives it.
LIBRARIES += image
image_SRCS := $(filter-out %_test.cc,$(wildcard tools/image/*.cc))
image_LDLIBS := -larchive -lcrypto
QT_VMM_LIBS += image

UNIT_TESTS += image_test
image_test_SRCS := $(wildcard tools/image/*_test.cc) tests/doctest_main.cc
image_test_LIBS := image base
