# What an erasure reports per item (gdpr_erase_ex: crypto-shredded or deletion only).
mu_unit_test(test_archive_gdpr SOURCES tests/unit/test_archive_gdpr.c tests/unit/archive_fixture.c LIBS mu_export mu_testutil)
