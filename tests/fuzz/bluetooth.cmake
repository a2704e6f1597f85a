# What the Bluetooth driver reads from outside (transport/bluetooth.c is
# included by the harness): bluetoothd's Device1/Adapter1 property
# dictionaries of any shape, the node tag, address and PSM text.
mu_fuzz(fuzz_bluetooth tests/fuzz/fuzz_bluetooth.c mu_loop mu_config
	mu_crypto PkgConfig::LIBSYSTEMD)
target_include_directories(fuzz_bluetooth PRIVATE ${CMAKE_SOURCE_DIR}/transport)
