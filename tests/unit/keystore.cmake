mu_unit_test(test_keystore SOURCES tests/unit/test_keystore.c LIBS mu_crypto mu_testutil)
