mu_unit_test(test_envelope SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_envelope.c LIBS mu_crypto mu_testutil)
