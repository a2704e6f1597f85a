# Incident records (codec) and the views derived from them: pure code, no
# sockets, so the daemon's control commands and the tests share it.
add_library(mu_incident STATIC node/incident.c node/scene.c node/scene_render.c)
target_link_libraries(mu_incident PUBLIC mu_base)
