# mu-sim (tools/sim, docs/benchmarks.md "sim"): exact figures on tiny traces.
mu_unit_test(test_sim SOURCES tests/unit/test_sim.c LIBS mu_sim mu_testutil)
target_compile_definitions(test_sim PRIVATE MU_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
