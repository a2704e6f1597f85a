# Transport drivers behind transport/link.h: the name table and the IP driver.
add_library(mu_transport STATIC transport/link.c transport/tcp.c transport/beacon.c)
target_include_directories(mu_transport PUBLIC ${CMAKE_SOURCE_DIR}/transport)
target_link_libraries(mu_transport PUBLIC mu_loop mu_config mu_crypto)
