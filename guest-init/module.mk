# guest-init/: the static init that is PID 1 in the enclave (see guest-init/init_main.cc).
# The testable parts are plain functions in their own files (init_test); status_protocol.* is
# also a library so the VMM can decode the exit-status records (libguest_status).
GUEST_INIT_LOGIC := guest-init/launch_files.cc guest-init/path_lookup.cc guest-init/user_spec.cc \
  guest-init/mount_plan.cc guest-init/status_protocol.cc guest-init/vsock_client.cc guest-init/forward_spec.cc
GUEST_INIT_SYSTEM := guest-init/console.cc guest-init/system_setup.cc guest-init/app_runner.cc \
  guest-init/forwarder.cc proxy/stream_relay.cc guest-init/init_main.cc

STATIC_PROGRAMS += init
init_SRCS := $(GUEST_INIT_LOGIC) $(GUEST_INIT_SYSTEM)
init_FLAGS := -Os -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables -ffunction-sections \
  -fdata-sections -Wl,--gc-sections -s
# The static template only tracks sources; rebuild init when a header changes too.
$(BUILD)/guest/init: $(wildcard guest-init/*.h) proxy/stream_relay.h

LIBRARIES += guest_status
guest_status_SRCS := guest-init/status_protocol.cc guest-init/forward_spec.cc

UNIT_TESTS += init_test
init_test_SRCS := guest-init/launch_files_test.cc guest-init/path_lookup_test.cc \
  guest-init/user_spec_test.cc guest-init/mount_plan_test.cc guest-init/status_protocol_test.cc \
  guest-init/vsock_client_test.cc guest-init/forward_spec_test.cc $(GUEST_INIT_LOGIC) tests/doctest_main.cc

FUZZERS += init_parsers_fuzz
init_parsers_fuzz_SRCS := guest-init/launch_parsers_fuzz.cc
init_parsers_fuzz_LIBSRCS := guest-init/launch_files.cc guest-init/user_spec.cc guest-init/status_protocol.cc \
  guest-init/forward_spec.cc
