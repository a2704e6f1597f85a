# The hospital uplink: route change events for the static-peer redial.
mu_unit_test(test_route_watch SOURCES tests/unit/test_route_watch.c node/route_watch.c LIBS mu_loop mu_testutil)
