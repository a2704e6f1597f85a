# Daemon building blocks: event loop, configuration, control socket.
add_library(mu_loop STATIC node/loop.c)
target_link_libraries(mu_loop PUBLIC mu_base)

add_library(mu_config STATIC node/config.c node/config_default.c)
target_link_libraries(mu_config PUBLIC mu_base)

add_library(mu_ctl STATIC node/ctl.c)
target_link_libraries(mu_ctl PUBLIC mu_loop)
