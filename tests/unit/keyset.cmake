mu_unit_test(test_keyset SOURCES tests/unit/test_keyset.c LIBS mu_sync mu_testutil)
