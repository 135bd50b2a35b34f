# tools/qt-vmm/: the qt-vmm command-line front end. Every non-test .cc here is a command (or
# CLI support) and is linked as an object so that its self-registration is kept.
PROGRAMS += qt-vmm
qt-vmm_SRCS := $(filter-out %_test.cc,$(wildcard tools/qt-vmm/*.cc))
qt-vmm_LIBS := image $(filter-out base,$(VMM_LIBS)) vsockproxy jmespath base

UNIT_TESTS += qt-vmm_test
qt-vmm_test_SRCS := $(wildcard tools/qt-vmm/output*.cc tools/qt-vmm/query_option*.cc tools/qt-vmm/terminal_text*.cc) \
  tests/doctest_main.cc
qt-vmm_test_LIBS := jmespath base
