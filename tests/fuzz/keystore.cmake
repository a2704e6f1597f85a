mu_fuzz(fuzz_keyfile tests/fuzz/fuzz_keyfile.c mu_crypto)
