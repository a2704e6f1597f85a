# The per-peer set of refused bundles (node/refused.c, REFUSED frames).
mu_unit_test(test_refused SOURCES tests/unit/test_refused.c LIBS mu_node mu_testutil)
