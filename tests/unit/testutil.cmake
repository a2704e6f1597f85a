add_library(mu_testutil STATIC ${CMAKE_SOURCE_DIR}/tests/unit/testutil.c)
target_link_libraries(mu_testutil PUBLIC mu_base)
target_include_directories(mu_testutil PUBLIC ${CMAKE_SOURCE_DIR}/tests/unit)
