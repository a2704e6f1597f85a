# mu-sim's contact trace parser (tools/sim/trace.c, docs/benchmarks.md "sim").
mu_fuzz(fuzz_sim_trace tests/fuzz/fuzz_sim_trace.c mu_sim)
