mu_fuzz(fuzz_frames ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_frames.c mu_mesh)
mu_fuzz(fuzz_envelope ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_envelope.c mu_crypto)
