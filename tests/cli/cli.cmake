add_test(NAME cli COMMAND bash ${CMAKE_SOURCE_DIR}/tests/cli/cli.sh)
set_tests_properties(cli PROPERTIES ENVIRONMENT "MU_BIN=${CMAKE_BINARY_DIR}" TIMEOUT 120)
