mu_unit_test(test_relay_ring SOURCES tests/unit/test_relay_ring.c LIBS mu_sync mu_testutil)
