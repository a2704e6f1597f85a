mu_unit_test(test_sync SOURCES tests/unit/test_sync.c LIBS mu_sync mu_testutil)
