// The main() of every doctest unit-test binary (one per component, see */module.mk).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
