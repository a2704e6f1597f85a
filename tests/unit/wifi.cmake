# The Wi-Fi driver: its nl80211/rtnetlink/rfkill messages (built and parsed
# back, canned and malformed kernel events), and the driver on a host with
# no radio (config checks, waits for a radio, clean stop) plus the IP
# driver's kick over veth in private namespaces (root only). Radio paths:
# tests/radiolab/wifi-*.sh.
mu_unit_test(test_wifi_nl SOURCES tests/unit/test_wifi_nl.c LIBS mu_transport mu_testutil)
mu_unit_test(test_wifi SOURCES tests/unit/test_wifi.c LIBS mu_transport mu_testutil)
set_tests_properties(test_wifi PROPERTIES TIMEOUT 60)
