# Key-wrap payload and channel-message decoders (node/channel.h); seeds in
# tests/fuzz/corpus/fuzz_keywrap/.
mu_fuzz(fuzz_keywrap ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_keywrap.c mu_channel)
