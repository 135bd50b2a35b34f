# base/: primitives shared by every component (errors, files, the program's directory, hex, eventfds, Unix addresses, tasks run on a loop thread,
# untrusted text made valid UTF-8, threads with a chosen stack size, a bounded chunk pipeline that
# feeds one byte stream to stages on threads).
LIBRARIES += base
base_SRCS := base/error.cc base/file.cc base/executable_dir.cc base/hex.cc base/eventfd.cc base/unix_address.cc base/utf8.cc base/loop_task.cc base/sized_thread.cc base/chunk_pipeline.cc base/direct_appender.cc base/byte_sink.cc

UNIT_TESTS += base_test
base_test_SRCS := base/base_test.cc base/chunk_pipeline_test.cc base/direct_appender_test.cc base/byte_sink_test.cc tests/doctest_main.cc
base_test_LIBS := base
