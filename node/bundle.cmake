# Bundle encoding and admission checks.
add_library(mu_bundle STATIC node/bundle.c node/verify.c node/receipt.c)
target_link_libraries(mu_bundle PUBLIC mu_crypto)
