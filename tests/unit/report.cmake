# The incident report streamed in steps (node/export_report.c with the
# scene_stream renderer of node/scene_render.c).
mu_unit_test(test_report SOURCES tests/unit/test_report.c tests/unit/archive_fixture.c LIBS mu_export mu_testutil)
