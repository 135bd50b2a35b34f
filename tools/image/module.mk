# tools/image/: turns a container image (OCI layout, oci/docker archive, or a local docker/podman
# image) into the ramdisks of an enclave image; `qt-vmm enclave make-img` drives it.
LIBRARIES += image
image_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard tools/image/*.cc))
image_LDLIBS := -larchive -lcrypto

UNIT_TESTS += image_test
image_test_SRCS := $(wildcard tools/image/*_test.cc) tests/doctest_main.cc
image_test_LIBS := image eif guest_status base

FUZZERS += image_layer_fuzz
image_layer_fuzz_SRCS := tools/image/layer_fuzz.cc
image_layer_fuzz_LIBSRCS := tools/image/layer_reader.cc tools/image/file_tree.cc tools/image/spill_file.cc \
  tools/image/temp_file.cc tools/image/blob_store.cc tools/image/cpio_writer.cc tools/image/ramdisk.cc \
  tools/image/launch_config.cc tools/image/unpack_limits.cc tools/image/content_sources.cc tools/image/read_lease.cc tools/image/blob_digest.cc guest-init/forward_spec.cc base/error.cc base/file.cc base/hex.cc base/chunk_pipeline.cc base/byte_sink.cc
image_layer_fuzz_LDLIBS := -larchive -lcrypto
