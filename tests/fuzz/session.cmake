# Link session receive side (responder and initiator). Includes
# crypto/session.c itself, so it links mu_crypto.
mu_fuzz(fuzz_session tests/fuzz/fuzz_session.c mu_crypto)
