# Fuzz harnesses for the wire encodings; seeds in tests/fuzz/corpus/<name>/
# are written by test_verify (MU_REGEN_CORPUS=1 ./test_verify /vectors/corpus).
mu_fuzz(fuzz_bundle tests/fuzz/fuzz_bundle.c mu_bundle)
mu_fuzz(fuzz_cred tests/fuzz/fuzz_cred.c mu_bundle)
mu_fuzz(fuzz_revocation tests/fuzz/fuzz_revocation.c mu_bundle)
