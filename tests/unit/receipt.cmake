# Receipts codec, store tombstones and custody records, custody deletion.
mu_unit_test(test_receipt SOURCES tests/unit/test_receipt.c LIBS mu_bundle mu_testutil)
mu_unit_test(test_custody SOURCES tests/unit/test_custody.c LIBS mu_node mu_testutil)
# Seals receipts for tests/mesh/custody.sh (until the hospital archive issues them there).
add_executable(muster-test-receipt tests/tools/muster_test_receipt.c)
target_link_libraries(muster-test-receipt PRIVATE mu_bundle mu_base)
