# Node core: peer frames, peers (session + sync + transfer), router, daemon.
add_library(mu_mesh STATIC node/frames.c)
target_link_libraries(mu_mesh PUBLIC mu_bundle)
