# Security tests (docs/security.md): per-sender rate limits (node/ratelimit.c), used by ingest.
mu_unit_test(test_ratelimit SOURCES tests/unit/test_ratelimit.c LIBS mu_node mu_testutil)
# Replayed bundles and clock skew through ingest's steps (docs/security.md).
mu_unit_test(test_replay SOURCES tests/unit/test_replay.c LIBS mu_store mu_bundle mu_testutil)
# The per-peer send queue, deduplicated (found by tools/bench goodput).
mu_unit_test(test_outq SOURCES tests/unit/test_outq.c LIBS mu_node mu_testutil)
