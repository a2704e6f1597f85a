mu_unit_test(test_store SOURCES tests/unit/test_store.c LIBS mu_store mu_testutil)
