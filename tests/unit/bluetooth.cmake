# The Bluetooth driver: its pure pieces (tag, addresses, PSMs, fragmentation
# at MTU edges), config errors and a start with no system bus or no
# bluetoothd (test_bt); the link machinery over a SOCK_SEQPACKET socketpair
# (test_bt_link includes transport/bluetooth.c, so it links the libraries
# under mu_transport, not mu_transport itself). Radio paths:
# tests/radiolab/bt-*.sh.
mu_unit_test(test_bt SOURCES tests/unit/test_bt.c LIBS mu_transport mu_testutil)
set_tests_properties(test_bt PROPERTIES TIMEOUT 60)
mu_unit_test(test_bt_link SOURCES tests/unit/test_bt_link.c transport/bt_proto.c transport/sendq.c
	LIBS mu_loop mu_config mu_crypto mu_testutil PkgConfig::LIBSYSTEMD)
target_include_directories(test_bt_link PRIVATE ${CMAKE_SOURCE_DIR}/transport)
set_tests_properties(test_bt_link PROPERTIES TIMEOUT 60)
