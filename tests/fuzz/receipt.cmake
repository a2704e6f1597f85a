# Receipt payload decoder (node/receipt.h); seeds in tests/fuzz/corpus/fuzz_receipt/.
mu_fuzz(fuzz_receipt tests/fuzz/fuzz_receipt.c mu_bundle)
