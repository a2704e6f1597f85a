# tools/bench sim: delivery under movement over contact traces
# (docs/benchmarks.md "sim"). The engine is a library so tests/unit/sim.cmake
# can assert exact figures on a tiny trace; it runs the node's real store,
# sync engine, admission and send queue (outq.c, from mu_node).
add_library(mu_sim STATIC tools/sim/trace.c tools/sim/engine.c tools/sim/ideal.c)
target_include_directories(mu_sim PUBLIC ${CMAKE_SOURCE_DIR}/tools/sim)
target_link_libraries(mu_sim PUBLIC mu_node mu_store mu_sync)

add_executable(mu-sim tools/sim/main.c)
target_link_libraries(mu-sim PRIVATE mu_sim)
