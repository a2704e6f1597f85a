# LMDB store.
add_library(mu_store STATIC node/store.c)
target_link_libraries(mu_store PUBLIC mu_bundle PkgConfig::LMDB)
