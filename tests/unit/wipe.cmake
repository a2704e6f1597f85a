mu_unit_test(test_wipe SOURCES tests/unit/test_wipe.c LIBS mu_node mu_testutil)
