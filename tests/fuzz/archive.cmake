# Fuzz harnesses for the hospital archive's stored encodings (audit entries
# and item records, read back from LMDB and checked by audit verify).
mu_fuzz(fuzz_audit_entry tests/fuzz/fuzz_audit_entry.c mu_archive)
mu_fuzz(fuzz_archive_record tests/fuzz/fuzz_archive_record.c mu_archive)
# The hospital's clean-shutdown checkpoint (meta "hospital.clean").
mu_fuzz(fuzz_archive_checkpoint tests/fuzz/fuzz_archive_checkpoint.c mu_archive)
