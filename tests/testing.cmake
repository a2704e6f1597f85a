# mu_unit_test(NAME SOURCES... LIBS...): one executable, one ctest entry; the
# executable runs its tests named by path (/bundle/decode/truncated).
function(mu_unit_test name)
	cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
	add_executable(${name} ${T_SOURCES})
	target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
	target_link_libraries(${name} PRIVATE ${T_LIBS})
	add_test(NAME ${name} COMMAND ${name})
	set_tests_properties(${name} PROPERTIES ENVIRONMENT "MU_TEST_TMP=${CMAKE_BINARY_DIR}/testtmp")
endfunction()

# mu_fuzz(NAME SOURCE LIBS...): a harness defining LLVMFuzzerTestOneInput,
# run over tests/fuzz/corpus/NAME in ctest (libFuzzer for MU_FUZZ_SECONDS,
# or the replay driver).
function(mu_fuzz name source)
	add_executable(${name} ${source})
	target_link_libraries(${name} PRIVATE ${ARGN})
	set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
	if(MU_FUZZ_ENGINE STREQUAL "libfuzzer")
		target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
		target_link_options(${name} PRIVATE -fsanitize=fuzzer)
		set(scratch ${CMAKE_BINARY_DIR}/fuzz-scratch/${name})
		file(MAKE_DIRECTORY ${scratch})
		add_test(NAME ${name} COMMAND ${name} -max_total_time=${MU_FUZZ_SECONDS}
			-rss_limit_mb=2048 -print_final_stats=1 ${scratch} ${corpus})
	else()
		target_sources(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
		add_test(NAME ${name} COMMAND ${name} ${corpus})
	endif()
endfunction()
