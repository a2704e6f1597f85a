# Incident records: codec and derived views.
mu_unit_test(test_incident SOURCES tests/unit/test_incident.c LIBS mu_incident mu_testutil)
mu_unit_test(test_scene SOURCES tests/unit/test_scene.c LIBS mu_incident mu_testutil)
# test_verify (tests/unit/encodings.cmake) checks the incident vector in
# docs/protocol.md and writes the fuzz_incident seeds, so it needs the codec.
target_link_libraries(test_verify PRIVATE mu_incident)
