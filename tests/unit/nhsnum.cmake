mu_unit_test(test_nhsnum SOURCES ${CMAKE_SOURCE_DIR}/node/nhsnum.c ${CMAKE_SOURCE_DIR}/tests/unit/test_nhsnum.c
	LIBS mu_base mu_testutil)
