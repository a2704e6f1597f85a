# The archive exports' readers of archived content (node/export_fhir.c,
# node/gdpr.c).
mu_fuzz(fuzz_export tests/fuzz/fuzz_export.c mu_export)
