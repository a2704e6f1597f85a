# Named meta values of the hospital archive (node/archive.c archive_meta_*).
mu_unit_test(test_archive_meta SOURCES tests/unit/test_archive_meta.c tests/unit/archive_fixture.c LIBS mu_archive mu_testutil)
