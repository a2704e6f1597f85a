# The store's notes database (node/store.h "notes").
mu_unit_test(test_store_notes SOURCES tests/unit/test_store_notes.c LIBS mu_store mu_testutil)
