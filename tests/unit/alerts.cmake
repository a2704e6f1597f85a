# Receipts and alerts (node/receipts.c, node/alerts.c); the mesh tests are
# tests/mesh/receipts.sh and tests/mesh/alerts.sh.
mu_unit_test(test_alerts SOURCES tests/unit/test_alerts.c LIBS mu_node mu_testutil)
