# Transport drivers behind transport/link.h: the name table, the IP driver
# (tcp) and the Wi-Fi driver (wifi: nl80211 through libnl).
pkg_check_modules(LIBNL REQUIRED IMPORTED_TARGET libnl-3.0 libnl-genl-3.0 libnl-route-3.0)
add_library(mu_transport STATIC transport/link.c transport/tcp.c transport/beacon.c transport/wifi.c
	transport/wifi_nl.c)
target_include_directories(mu_transport PUBLIC ${CMAKE_SOURCE_DIR}/transport)
target_link_libraries(mu_transport PUBLIC mu_loop mu_config mu_crypto PkgConfig::LIBNL)
