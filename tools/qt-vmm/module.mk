# tools/qt-vmm/: the qt-vmm command-line front end. Every non-test .cc here is a command (or
# CLI support) and is linked as an object so that its self-registration is kept.
PROGRAMS += qt-vmm
qt-vmm_SRCS := $(filter-out %_test.cc,$(wildcard tools/qt-vmm/*.cc))
qt-vmm_LIBS := $(filter-out base,$(VMM_LIBS)) image base
qt-vmm_LDLIBS := -lyaml-cpp

UNIT_TESTS += qt-vmm_test
qt-vmm_test_SRCS := tools/qt-vmm/output_test.cc tools/qt-vmm/output.cc tests/doctest_main.cc
qt-vmm_test_LDLIBS := -lyaml-cpp
