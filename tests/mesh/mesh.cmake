# Multi-node tests in network namespaces (tests/mesh/*.sh, library lib.sh).
# They need root, iproute2 (ip netns), nftables and tc; without them they
# exit 77 and ctest reports them skipped. Run: ctest -L mesh.
foreach(t ferry line-flap refused restart recipients messaging flood adversary crash incident custody receipts alerts channel-late-key wipe archive attach channel uplink export archive-attach hospital-restart hospital-sync refused-frame)
	add_test(NAME mesh/${t} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/mesh/${t}.sh)
	set_tests_properties(mesh/${t} PROPERTIES
		LABELS mesh
		RUN_SERIAL TRUE
		TIMEOUT 120
		SKIP_RETURN_CODE 77
		ENVIRONMENT "MU_BIN=${CMAKE_BINARY_DIR}")
endforeach()
# 100 SIGKILL trials: about 2 min on a 2-core machine with ASan.
set_tests_properties(mesh/crash PROPERTIES TIMEOUT 300)
# Four nodes, two hospital restarts and field reconnect back-off: about 1 min.
set_tests_properties(mesh/archive PROPERTIES TIMEOUT 240)
