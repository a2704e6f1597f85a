# Link session tests. test_session includes crypto/session.c itself (to
# build peers the API refuses to build), so it links mu_crypto, not
# mu_session. It checks the vectors in docs/session.md and that the fuzz
# seeds are current (MU_REGEN_CORPUS=1 rewrites them; MU_PRINT_VECTORS=1
# prints the vector blocks).
mu_unit_test(test_session SOURCES tests/unit/test_session.c LIBS mu_crypto mu_testutil)
target_compile_definitions(test_session PRIVATE MU_SESSION_MD="${CMAKE_SOURCE_DIR}/docs/session.md"
	MU_CORPUS_DIR="${CMAKE_SOURCE_DIR}/tests/fuzz/corpus")
