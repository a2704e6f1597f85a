# Base layer every module uses: errors, wire reader/writer, logging, clock, hex.
add_library(mu_base STATIC
	node/err.c node/wire.c node/log.c node/clock.c node/hex.c node/json.c node/grow.c node/text.c)
target_include_directories(mu_base PUBLIC ${CMAKE_SOURCE_DIR}/node ${CMAKE_SOURCE_DIR}/crypto)
target_link_libraries(mu_base PUBLIC PkgConfig::SODIUM)
