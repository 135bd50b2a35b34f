# vmm/nsm/: the Nitro Secure Module emulation (libvmmnsm): its CBOR protocol, PCR bank, the
# module answering requests, attestation documents (COSE_Sign1 ES384) and the certificates
# behind them. No transport here: vmm/virtio/nsm_device (KVM) and vmm/vhost_user (tcg) carry it.
LIBRARIES += vmmnsm
vmmnsm_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard vmm/nsm/*.cc))
vmmnsm_LDLIBS := -lcbor -lcrypto -pthread

UNIT_TESTS += nsm_test
nsm_test_SRCS := $(wildcard vmm/nsm/*_test.cc) tests/doctest_main.cc
nsm_test_LIBS := vmmnsm eif base
nsm_test_LDLIBS := -lcbor -lcrypto -lz -pthread

# Every NSM request comes from the guest: the module is fuzzed with sequences of them.
FUZZERS += nsm_module_fuzz
nsm_module_fuzz_SRCS := vmm/nsm/nsm_module_fuzz.cc
nsm_module_fuzz_LIBSRCS := vmm/nsm/nsm_module.cc vmm/nsm/nsm_protocol.cc vmm/nsm/pcr_bank.cc vmm/nsm/signature_pace.cc eif-format/cbor_util.cc \
  eif-format/pcr.cc eif-format/eif_layout.cc base/error.cc base/file.cc base/hex.cc base/sized_thread.cc
nsm_module_fuzz_LDLIBS := -lcbor -lcrypto -pthread

# Attestation documents reach verify_document from guests and from `qt-vmm attestation verify`.
FUZZERS += attestation_verify_fuzz
attestation_verify_fuzz_SRCS := vmm/nsm/attestation_verify_fuzz.cc
attestation_verify_fuzz_LIBSRCS := vmm/nsm/attestation_document.cc eif-format/cbor_util.cc eif-format/cose_sign1.cc \
  base/error.cc base/hex.cc
attestation_verify_fuzz_LDLIBS := -lcbor -lcrypto
attestation_verify_fuzz_SEEDGEN := vmm/nsm/make_attestation_fuzz_seeds.sh
