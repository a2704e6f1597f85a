# Crypto-shredding in the hospital archive (per-item keys, node/archive.c).
mu_unit_test(test_archive_shred SOURCES tests/unit/test_archive_shred.c tests/unit/archive_fixture.c LIBS mu_archive mu_testutil)
