# Hospital archive and its audit chain (node/archive.c, node/audit.c).
mu_unit_test(test_archive SOURCES tests/unit/test_archive.c tests/unit/archive_fixture.c LIBS mu_archive mu_testutil)
mu_unit_test(test_audit SOURCES tests/unit/test_audit.c tests/unit/archive_fixture.c LIBS mu_archive mu_testutil)
