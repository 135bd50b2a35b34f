# proxy/: egress from an enclave. The epoll relay (stream_relay.*) is shared with guest-init's
# TCP → vsock forwarder (compiled into the static init from source: no exceptions, libc only);
# the allowlist, DNS cache and policy are the parent side of `qt-vmm vsock proxy`.
LIBRARIES += vsockproxy
vsockproxy_SRCS := $(filter-out %_test.cc %_fuzz.cc,$(wildcard proxy/*.cc))
vsockproxy_LDLIBS := -lyaml-cpp

UNIT_TESTS += proxy_test
proxy_test_SRCS := $(wildcard proxy/*_test.cc) tests/doctest_main.cc
proxy_test_LIBS := vsockproxy base
proxy_test_LDLIBS := -lyaml-cpp

FUZZERS += allowlist_fuzz
allowlist_fuzz_SRCS := proxy/allowlist_fuzz.cc
allowlist_fuzz_LIBSRCS := proxy/allowlist.cc base/error.cc base/file.cc
allowlist_fuzz_LDLIBS := -lyaml-cpp
