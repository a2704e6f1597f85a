# Attachments: codec and chunk crypto (node/attach.h).
mu_unit_test(test_attach SOURCES tests/unit/test_attach.c LIBS mu_attach mu_bundle mu_testutil)
# Seals a chunk bundle that does not match its manifest, for tests/mesh/attach.sh.
add_executable(muster-test-attach tests/mesh/mu-test-attach.c)
target_link_libraries(muster-test-attach PRIVATE mu_attach mu_bundle mu_base)
