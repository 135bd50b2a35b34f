# eif-format/: reads, validates, writes, signs and measures Enclave Image Files (AWS Nitro EIF v4).
LIBRARIES += eif
eif_SRCS := eif-format/eif_layout.cc eif-format/eif_arch.cc eif-format/pcr.cc eif-format/eif_reader.cc eif-format/metadata.cc \
  eif-format/cbor_util.cc eif-format/cose_sign1.cc eif-format/signature.cc eif-format/eif_stream_writer.cc eif-format/eif_writer.cc \
  eif-format/eif_sign.cc eif-format/describe.cc eif-format/sealed_copy.cc
# libdeflate (static: no extra shared library at run time) for the EIF writer's CRC-32.
eif_LDLIBS := -lcbor -lcrypto -lz -l:libdeflate.a

UNIT_TESTS += eif_test
eif_test_SRCS := $(wildcard eif-format/*_test.cc) eif-format/testdata/eif_test_util.cc tests/doctest_main.cc
eif_test_LIBS := eif base

# Writes small sample EIFs for the integration test (tests/integration/eif_commands.sh).
PROGRAMS += eif-testdata
eif-testdata_SRCS := eif-format/testdata/make_test_eif.cc
eif-testdata_LIBS := eif base

FUZZERS += eif_reader_fuzz
eif_reader_fuzz_SRCS := eif-format/eif_reader_fuzz.cc
eif_reader_fuzz_LIBSRCS := $(eif_SRCS) base/error.cc base/file.cc base/hex.cc base/chunk_pipeline.cc base/sized_thread.cc base/direct_appender.cc base/byte_sink.cc
eif_reader_fuzz_LDLIBS := -lcbor -lcrypto -lz -l:libdeflate.a
eif_reader_fuzz_SEEDGEN := eif-format/testdata/make_fuzz_seeds.sh
