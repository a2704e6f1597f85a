# Radio lab tests: scripts that run inside a qemu VM booting a pinned Debian
# kernel, with virtual Wi-Fi (mac80211_hwsim) and Bluetooth (btvirt) radios.
# See docs/radiolab.md.  Skipped (not failed) when not root or when the lab
# cannot be set up; -DMU_RADIOLAB=OFF leaves them out, `ctest -LE radiolab`
# excludes them, `ctest -L radiolab` runs only them.
option(MU_RADIOLAB "Register the radio lab (qemu VM) tests" ON)
set(MU_RADIOLAB_DIR ${CMAKE_CURRENT_LIST_DIR})

# mu_radiolab_test(NAME SCRIPTS script.sh... [TIMEOUT s] [SCRIPT_TIMEOUT s])
# One ctest test = ONE VM boot running all SCRIPTS in turn (a boot costs
# 10-60 s under TCG: group scripts rather than registering one test each).
# Each script gets `. "$RL_LIB"` (tests/radiolab/guest-lib.sh), its own
# $RL_OUT (copied back to <build>/radiolab/NAME/<script>/) and MU_BUILD_DIR
# = this build tree, whose binaries it can run directly.
function(mu_radiolab_test name)
	if(NOT MU_RADIOLAB)
		return()
	endif()
	cmake_parse_arguments(R "" "TIMEOUT;SCRIPT_TIMEOUT" "SCRIPTS" ${ARGN})
	if(NOT R_TIMEOUT)
		set(R_TIMEOUT 400)
	endif()
	math(EXPR vm_timeout "${R_TIMEOUT} - 15")   # the wrapper reports before ctest kills it
	if(NOT R_SCRIPT_TIMEOUT)
		set(R_SCRIPT_TIMEOUT ${vm_timeout})
	endif()
	add_test(NAME ${name}
		COMMAND ${MU_RADIOLAB_DIR}/ctest-suite -t ${vm_timeout} -T ${R_SCRIPT_TIMEOUT}
			-o ${CMAKE_BINARY_DIR}/radiolab/${name} -e MU_BUILD_DIR=${CMAKE_BINARY_DIR}
			--suite ${R_SCRIPTS}
		WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
	set_tests_properties(${name} PROPERTIES LABELS radiolab RUN_SERIAL TRUE
		TIMEOUT ${R_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()

mu_radiolab_test(radiolab-smoke SCRIPTS ${MU_RADIOLAB_DIR}/smoke.sh TIMEOUT 400)
mu_radiolab_test(radiolab-wifi SCRIPTS ${MU_RADIOLAB_DIR}/wifi-ibss.sh ${MU_RADIOLAB_DIR}/wifi-mesh.sh TIMEOUT 600 SCRIPT_TIMEOUT 270)
mu_radiolab_test(radiolab-bt SCRIPTS ${MU_RADIOLAB_DIR}/bt-le.sh ${MU_RADIOLAB_DIR}/bt-mixed.sh TIMEOUT 420 SCRIPT_TIMEOUT 200)
