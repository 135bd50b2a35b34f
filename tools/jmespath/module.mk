# tools/jmespath/: a JMESPath implementation (lexer, Pratt parser, interpreter, functions) over
# nlohmann::ordered_json, for `qt-vmm --query`. Checked against the official compliance suite
# (tests/jmespath-compliance/, every case) by jmespath_test.
LIBRARIES += jmespath
jmespath_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard tools/jmespath/*.cc))

UNIT_TESTS += jmespath_test
jmespath_test_SRCS := $(wildcard tools/jmespath/*_test.cc) tests/doctest_main.cc
jmespath_test_LIBS := jmespath

# Expressions come from the command line; the fuzzer compiles and evaluates arbitrary ones.
FUZZERS += jmespath_fuzz
jmespath_fuzz_SRCS := tools/jmespath/jmespath_fuzz.cc
jmespath_fuzz_LIBSRCS := $(jmespath_SRCS)
