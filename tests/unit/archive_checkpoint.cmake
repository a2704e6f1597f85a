# The hospital's clean-shutdown checkpoint codec (node/archive_checkpoint.h).
mu_unit_test(test_archive_checkpoint SOURCES tests/unit/test_archive_checkpoint.c LIBS mu_archive mu_testutil)
