# tools/qt-vmm/: the qt-vmm command-line front end. Every non-test .cc here is a command (or
# CLI support) and is linked as an object so that its self-registration is kept.
#
# Two programs share the front end (main, the command tree, output formats, --query):
#   qt-vmm        every command but those of qt-vmm-tools, for which it has forwarders
#                 (tools_forwarders.cc); starts enclaves, so it links only what launching needs.
#   qt-vmm-tools  the commands that need libarchive/libxml2/ICU (make-img) or yaml-cpp (vsock
#                 proxy); qt-vmm execs it from its own directory (see tools_commands.h).
qt-vmm-tools_COMMANDS := tools/qt-vmm/enclave_make_img.cc tools/qt-vmm/vsock_proxy.cc
QTVMM_FRONT_END_SRCS := tools/qt-vmm/main.cc tools/qt-vmm/command.cc tools/qt-vmm/command_line.cc tools/qt-vmm/query_option.cc \
  tools/qt-vmm/terminal_text.cc $(filter-out %_test.cc,$(wildcard tools/qt-vmm/output*.cc))

PROGRAMS += qt-vmm
qt-vmm_SRCS := $(filter-out %_test.cc $(qt-vmm-tools_COMMANDS),$(wildcard tools/qt-vmm/*.cc))
qt-vmm_LIBS := $(filter-out base,$(VMM_LIBS)) jmespath base
# Every launch execs qt-vmm: the C++ runtime, OpenSSL, zlib and libseccomp are linked in, so only
# libc (NSS for the qt-vmm group) and libcbor (Debian ships no libcbor.a) are loaded at start.
qt-vmm_STATIC_LDLIBS := crypto z seccomp

PROGRAMS += qt-vmm-tools
qt-vmm-tools_SRCS := $(QTVMM_FRONT_END_SRCS) $(qt-vmm-tools_COMMANDS) tools/qt-vmm/enclave_socket.cc
qt-vmm-tools_LIBS := image $(filter-out base,$(VMM_LIBS)) vsockproxy jmespath base

UNIT_TESTS += qt-vmm_test
qt-vmm_test_SRCS := $(wildcard tools/qt-vmm/output*.cc tools/qt-vmm/query_option*.cc tools/qt-vmm/terminal_text*.cc) \
  tests/doctest_main.cc
qt-vmm_test_LIBS := jmespath base
