# Transport drivers behind transport/link.h: the name table, the IP driver
# (tcp), the Wi-Fi driver (wifi: nl80211 through libnl) and the Bluetooth
# driver (bluetooth: bluetoothd over D-Bus with sd-bus from libsystemd, L2CAP
# sockets; only the headers of libbluetooth-dev, not its library).
pkg_check_modules(LIBNL REQUIRED IMPORTED_TARGET libnl-3.0 libnl-genl-3.0 libnl-route-3.0)
pkg_check_modules(LIBSYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
include(CheckIncludeFiles)
check_include_files("sys/socket.h;bluetooth/bluetooth.h;bluetooth/l2cap.h" MU_HAVE_BT_HEADERS)
if(NOT MU_HAVE_BT_HEADERS)
	message(FATAL_ERROR "bluetooth/l2cap.h not found: install libbluetooth-dev (headers only are used)")
endif()
add_library(mu_transport STATIC transport/link.c transport/tcp.c transport/beacon.c transport/sendq.c transport/wifi.c
	transport/wifi_nl.c transport/bluetooth.c transport/bt_proto.c)
target_include_directories(mu_transport PUBLIC ${CMAKE_SOURCE_DIR}/transport)
target_link_libraries(mu_transport PUBLIC mu_loop mu_config mu_crypto PkgConfig::LIBNL PkgConfig::LIBSYSTEMD)
