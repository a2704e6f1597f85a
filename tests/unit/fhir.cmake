# Archive exports (FHIR R4, incident report) and GDPR subject access and
# erasure (node/export_fhir.c, export_report.c, gdpr.c).
mu_unit_test(test_fhir SOURCES tests/unit/test_fhir.c tests/unit/archive_fixture.c LIBS mu_export mu_testutil)
