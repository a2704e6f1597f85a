mu_unit_test(test_frames SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_frames.c LIBS mu_mesh mu_testutil)
mu_unit_test(test_wire SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_wire.c LIBS mu_base mu_testutil)
