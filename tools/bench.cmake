# Benchmarks run by tools/bench (docs/benchmarks.md). mu-bench-sync is
# defined beside the sync engine in node/sync.cmake.

# tools/bench ingest: decode + admit + store per second against bare
# Ed25519 verification per second.
add_executable(mu-bench-ingest tools/bench_ingest.c)
target_link_libraries(mu-bench-ingest PRIVATE mu_store)

# tools/bench memory / startup: fills node data directories with N bundles
# for tools/bench_node.sh, which runs the real musterd on them.
add_executable(mu-bench-fill tools/bench_fill.c)
target_link_libraries(mu-bench-fill PRIVATE mu_store mu_sync)

include(tools/sim.cmake)
