# Command-line tools: muster (staff CLI) and muster-ca (trust CA).
add_library(mu_cli STATIC node/cli/cli_util.c node/cli/inspect.c)
target_include_directories(mu_cli PUBLIC ${CMAKE_SOURCE_DIR}/node/cli)
target_link_libraries(mu_cli PUBLIC mu_bundle mu_ctl)

add_executable(muster node/cli/muster.c)
target_link_libraries(muster PRIVATE mu_cli)
add_executable(muster-ca node/cli/muster_ca.c)
target_link_libraries(muster-ca PRIVATE mu_cli)

# The foundation demo (driven by tools/demo).
add_executable(muster-demo-foundation tools/demo_foundation.c)
target_link_libraries(muster-demo-foundation PRIVATE mu_cli mu_store)
