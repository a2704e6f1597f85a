/* Internals shared by scene.c (records, derivation, scene_head) and
 * scene_render.c (text and JSON). Not a public interface. */
#ifndef MU_SCENE_INT_H
#define MU_SCENE_INT_H

#include "incident.h"

/* One added record; the body is a copy of the record's union member for its
 * type only, so a scene of small records stays small. */
struct srec {
	uint8_t id[BUNDLE_ID_BYTES];
	uint8_t sender[MU_KEY_BYTES];
	uint8_t prev[BUNDLE_ID_BYTES];
	uint8_t ref[BUNDLE_ID_BYTES];
	uint64_t created;
	uint8_t type;
	bool has_prev, has_ref;
	char incident[INC_NAME_MAX + 1];
	char *sender_name;
	union {
		void *p;
		struct inc_methane *methane;
		struct inc_checkin *checkin;
		struct inc_assign *assign;
		struct inc_assign_ack *ack;
		struct inc_request *request;
		struct inc_response *response;
		struct inc_triage *triage;
		struct inc_casualty *casualty;
	} b;
};

struct scene {
	bool filter; /* only records of want are kept */
	char want[INC_NAME_MAX + 1];
	bool have_latest; /* latest record by (created, id), for the NULL filter */
	uint64_t latest_created;
	uint8_t latest_id[BUNDLE_ID_BYTES];
	char latest[INC_NAME_MAX + 1];
	struct srec **recs;
	size_t n, cap;
	uint32_t *slots; /* open-addressed id set: index + 1, 0 = empty */
	size_t nslots;
};

/* A thing several records report on: one incident's M/ETHANE, a crew's
 * check-ins or assignments, a CCS's tallies, a casualty, a request and its
 * updates. m: members by (created, id); heads: members no other member
 * names as prev, by (created, id); the shown one is the last head. */
struct group {
	uint8_t type;
	const char *key;
	struct srec **m;
	size_t n;
	struct srec **heads;
	size_t nheads;
	size_t first; /* index of the group's first member in view.all */
};

/* Everything derived from one incident's records. Arrays are owned by the
 * view (view_free); srec pointers point into the scene. */
struct view {
	const char *incident;
	struct srec **all; /* the incident's records by (created, id) */
	size_t n;
	size_t *byid; /* indexes into all, by id */
	uint8_t *superseded; /* per index: named as prev within its group */
	size_t *gof; /* per index: group index, or SIZE_MAX */
	struct srec **ack; /* per index: earliest ASSIGN_ACK naming it */
	struct group *g;
	size_t ng;
	struct srec **members; /* backing store for groups' m and heads */
	char (*rootkey)[2 * BUNDLE_ID_BYTES + 1]; /* per index: a request's root id in hex */
	/* responses: latest per (request group, callsign), by group then callsign */
	struct srec **resp;
	size_t *resp_g;
	size_t nresp;
};

int view_build(struct view *v, const struct scene *s);
void view_free(struct view *v);
/* Index of id in v->all, or SIZE_MAX. */
size_t view_find(const struct view *v, const uint8_t id[static BUNDLE_ID_BYTES]);
/* Group of the given type and key, NULL if none. */
const struct group *view_group(const struct view *v, uint8_t type, const char *key);
int srec_cmp_time(const struct srec *a, const struct srec *b);

#endif
