mu_unit_test(test_loop SOURCES tests/unit/test_loop.c LIBS mu_loop mu_testutil)
mu_unit_test(test_config SOURCES tests/unit/test_config.c LIBS mu_config mu_testutil)
mu_unit_test(test_ctl SOURCES tests/unit/test_ctl.c LIBS mu_ctl mu_testutil)
