# Node core: peer frames, conns (session + sync + transfer), ingest and
# routing, control API, and the musterd daemon.
add_library(mu_mesh STATIC node/frames.c)
target_link_libraries(mu_mesh PUBLIC mu_bundle)

add_library(mu_node STATIC node/node.c node/conn.c node/ingest.c node/outq.c node/nhsnum.c node/control.c
	node/ratelimit.c node/stored.c)
target_link_libraries(mu_node PUBLIC mu_mesh mu_store mu_sync mu_session mu_transport mu_ctl mu_config
	mu_loop)

add_executable(musterd node/musterd.c)
target_link_libraries(musterd PRIVATE mu_node)
