# Node core: peer frames, conns (session + sync + transfer), ingest and
# routing, control API, and the musterd daemon.
add_library(mu_mesh STATIC node/frames.c)
target_link_libraries(mu_mesh PUBLIC mu_bundle)

add_library(mu_node STATIC node/node.c node/conn.c node/ingest.c node/outq.c node/nhsnum.c node/control.c
	node/control_util.c node/control_incident.c node/ratelimit.c node/stored.c node/custody.c
	node/wipe.c node/receipts.c node/alerts.c node/control_msg.c node/route_watch.c
	node/uplink.c node/refused.c)
target_link_libraries(mu_node PUBLIC mu_mesh mu_store mu_sync mu_session mu_transport mu_ctl mu_config
	mu_loop mu_incident)

# Hospital archive and audit chain; control_archive.c is its node glue.
add_library(mu_archive STATIC node/archive.c node/archive_keys.c node/audit.c node/archive_checkpoint.c)
target_link_libraries(mu_archive PUBLIC mu_bundle PkgConfig::LMDB)
target_sources(mu_node PRIVATE node/control_archive.c)
target_link_libraries(mu_node PUBLIC mu_archive)
# Archive exports (FHIR, incident report) and GDPR subject access/erasure.
add_library(mu_export STATIC node/export_fhir.c node/export_report.c node/gdpr.c)
target_link_libraries(mu_export PUBLIC mu_archive mu_incident mu_attach mu_crypto)
target_sources(mu_node PRIVATE node/control_export.c)
target_link_libraries(mu_node PUBLIC mu_export)

# Attachments: the pure codec (node/attach.h) and its control glue.
add_library(mu_attach STATIC node/attach.c)
target_link_libraries(mu_attach PUBLIC mu_base)
target_sources(mu_node PRIVATE node/control_attach.c)
target_link_libraries(mu_node PUBLIC mu_attach)
target_sources(muster PRIVATE node/cli/get.c) # muster get

# Channels: epoch keys and key-wrap bundles (node/channel.h) and their glue.
add_library(mu_channel STATIC node/channel.c)
target_link_libraries(mu_channel PUBLIC mu_bundle)
target_sources(mu_node PRIVATE node/control_channel.c)
target_link_libraries(mu_node PUBLIC mu_channel)

add_executable(musterd node/musterd.c)
target_link_libraries(musterd PRIVATE mu_node)
