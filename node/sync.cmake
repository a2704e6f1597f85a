# Set reconciliation (docs/sync.md): keyset + transport-free sync engine.
add_library(mu_sync STATIC node/keyset.c node/sync.c node/relay_ring.c)
target_link_libraries(mu_sync PUBLIC mu_base m)

# tools/bench sync: two in-process stores at N = 1,000,000 (docs/benchmarks.md).
add_executable(mu-bench-sync tools/bench_sync.c)
target_link_libraries(mu-bench-sync PRIVATE mu_sync)
