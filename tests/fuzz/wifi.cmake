# Every parser of kernel input in the Wi-Fi driver (transport/wifi_nl.c is
# included by the harness): nl80211 / controller events, rtnetlink links,
# extended acks, rfkill events.
mu_fuzz(fuzz_wifi_nl tests/fuzz/fuzz_wifi_nl.c mu_base PkgConfig::LIBNL)
target_include_directories(fuzz_wifi_nl PRIVATE ${CMAKE_SOURCE_DIR}/transport)
