# The harness #includes node/keyset.c and node/sync.c (coverage), so it
# links only what they use.
mu_fuzz(fuzz_sync ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_sync.c mu_base m)
