# Unit tests for the wire encodings: credentials, bundles, admission.
# (mu_testutil is defined by a fragment included later; target names resolve
# at generate time, so the order does not matter.)
mu_unit_test(test_cred SOURCES tests/unit/test_cred.c LIBS mu_bundle mu_testutil)
mu_unit_test(test_bundle SOURCES tests/unit/test_bundle.c LIBS mu_bundle mu_testutil)
mu_unit_test(test_verify SOURCES tests/unit/test_verify.c LIBS mu_bundle mu_testutil)
# test_verify checks that every vector in docs/protocol.md matches the code,
# and that the committed fuzz seeds are the current valid encodings
# (MU_REGEN_CORPUS=1 rewrites them).
target_compile_definitions(test_verify PRIVATE MU_PROTOCOL_MD="${CMAKE_SOURCE_DIR}/docs/protocol.md"
	MU_CORPUS_DIR="${CMAKE_SOURCE_DIR}/tests/fuzz/corpus")
