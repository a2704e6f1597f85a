# Incident record decoder (and the views over what it accepts); seeds in
# tests/fuzz/corpus/fuzz_incident/ are written by test_verify
# (MU_REGEN_CORPUS=1 ./test_verify /vectors/corpus).
mu_fuzz(fuzz_incident tests/fuzz/fuzz_incident.c mu_incident)
