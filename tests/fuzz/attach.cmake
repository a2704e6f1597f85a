# Attachment manifest and chunk header decoders (node/attach.h); seeds in
# tests/fuzz/corpus/fuzz_attach/ (first byte: 0 manifest, 1 chunk).
mu_fuzz(fuzz_attach tests/fuzz/fuzz_attach.c mu_attach)
