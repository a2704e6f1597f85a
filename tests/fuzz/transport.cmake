# The beacon decoder (transport/beacon.c is included by the harness).
mu_fuzz(fuzz_beacon tests/fuzz/fuzz_beacon.c mu_crypto)
target_include_directories(fuzz_beacon PRIVATE ${CMAKE_SOURCE_DIR}/transport)
