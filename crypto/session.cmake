# Link session: authenticated key exchange and encrypted record stream
# (docs/session.md).
add_library(mu_session STATIC crypto/session.c)
target_link_libraries(mu_session PUBLIC mu_crypto)
