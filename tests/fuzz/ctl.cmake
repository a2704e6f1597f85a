mu_fuzz(fuzz_ctl tests/fuzz/fuzz_ctl.c mu_ctl)
mu_fuzz(fuzz_config tests/fuzz/fuzz_config.c mu_config)
