# Identities, credentials, key storage.
add_library(mu_crypto STATIC crypto/identity.c crypto/keystore.c crypto/cred.c crypto/envelope.c)
target_link_libraries(mu_crypto PUBLIC mu_base)
