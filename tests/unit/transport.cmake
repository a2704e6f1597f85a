# Transport: the beacon codec (pure, checked against docs/transport.md) and
# the TCP driver over loopback, plus beacons over a veth pair in private
# network namespaces (skipped unless root with iproute2).
mu_unit_test(test_beacon SOURCES tests/unit/test_beacon.c LIBS mu_transport mu_testutil)
target_compile_definitions(test_beacon PRIVATE MU_TRANSPORT_MD="${CMAKE_SOURCE_DIR}/docs/transport.md")
mu_unit_test(test_tcp SOURCES tests/unit/test_tcp.c LIBS mu_transport mu_testutil)
set_tests_properties(test_tcp PROPERTIES TIMEOUT 60)
