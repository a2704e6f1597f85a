/* Incident records: the typed, versioned structured messages the scene runs
 * on (JESIP M/ETHANE, crew check-in, assignments, staffing requests, triage
 * tallies, casualty movements), and the views derived from them.
 *
 * A record travels as the content of an ordinary encrypted message bundle
 * (envelope content byte CONTENT_INCIDENT, then the encoding below), so
 * relays see a message bundle like any other. Encoding (docs/protocol.md
 * "Incident records"): 'M' 'I' version type, lv8 incident reference,
 * flags (bit 0: prev present, bit 1: ref present), prev id 32 if present,
 * ref id 32 if present, then the type's fields in the order of its struct
 * below: text fields lv8 (UTF-8, no control characters, caps below), counts
 * u16, times u64 Unix ms, enums u8, key lists u8 count + 32 bytes each.
 * The decoder rejects unknown types, out-of-range enums, over-long or invalid
 * text, missing required fields and trailing bytes.
 *
 * prev: the bundle id of the record this one updates (a METHANE update, a
 * crew's new status, a revised triage tally, a cancelled request). ref: the
 * record a response answers (an assignment acknowledged, a request
 * accepted or declined). Ids are bundle ids, so a record names others only
 * once they are sealed. */
#ifndef MU_INCIDENT_H
#define MU_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"

#define CONTENT_TEXT 1     /* envelope content: UTF-8 text follows */
#define CONTENT_INCIDENT 2 /* envelope content: an incident record follows */
#define CONTENT_ALERT 3    /* envelope content: UTF-8 text of an alert that asks for `muster ack` (alerts.c) */
#define CONTENT_ATTACHMENT 4 /* envelope content: an attachment manifest follows (node/attach.h) */

#define INC_VERSION 1
#define INC_NAME_MAX 32     /* incident reference, e.g. "INC-2026-0412" */
#define INC_SHORT_MAX 32    /* callsign, sector, CCS name, tag number, vehicle */
#define INC_PLACE_MAX 64    /* a location, a destination hospital */
#define INC_TEXT_MAX 255    /* free-text fields of a report (lv8: at most 255) */
#define INC_MEMBERS_MAX 8   /* crew members named by key in a check-in */
#define INC_ENC_MAX 2048    /* largest encoding of any record */

enum inc_type {
	INC_METHANE = 1,
	INC_CHECKIN = 2,    /* crew check-in, status change or check-out */
	INC_ASSIGN = 3,     /* commander: crew -> function and sector */
	INC_ASSIGN_ACK = 4, /* crew acknowledges an assignment (ref) */
	INC_REQUEST = 5,    /* staffing request */
	INC_RESPONSE = 6,   /* accept or decline a request (ref) */
	INC_TRIAGE = 7,     /* tally at one casualty clearing station */
	INC_CASUALTY = 8,   /* casualty movement to a hospital */
	INC_TYPE_MAX = 8,
};

enum inc_declared {
	METHANE_NOT_DECLARED = 0, /* an ETHANE report */
	METHANE_DECLARED = 1,
	METHANE_STANDBY = 2,
	METHANE_STAND_DOWN = 3,
};

enum inc_loc_kind { LOC_GRID = 0, LOC_W3W = 1, LOC_LATLON = 2, LOC_TEXT = 3 };

/* Skills as a bit set, one bit per (1u << skill). */
enum inc_skill {
	SKILL_PARAMEDIC = 0,
	SKILL_TECHNICIAN = 1,
	SKILL_HART = 2,
	SKILL_DOCTOR = 3,
	SKILL_NURSE = 4,
	SKILL_SPECIALIST = 5, /* e.g. critical care, MERIT */
	SKILL_MAX = 5,
};

enum inc_crew_status {
	CREW_AVAILABLE = 0,  /* checked in, not yet committed */
	CREW_COMMITTED = 1,  /* working an assignment */
	CREW_TRANSPORTING = 2,
	CREW_CHECKED_OUT = 3,
	CREW_STATUS_MAX = 3,
};

enum inc_triage_cat { TRIAGE_P1 = 0, TRIAGE_P2 = 1, TRIAGE_P3 = 2, TRIAGE_DEAD = 3 };

struct inc_methane {
	uint8_t declared; /* enum inc_declared */
	uint8_t loc_kind; /* enum inc_loc_kind */
	char location[INC_PLACE_MAX + 1]; /* required */
	char type[INC_TEXT_MAX + 1];      /* required */
	char hazards[INC_TEXT_MAX + 1];
	char access[INC_TEXT_MAX + 1];    /* access routes and rendezvous point */
	uint16_t casualties[4];           /* by enum inc_triage_cat, estimates */
	char casualty_note[INC_TEXT_MAX + 1];
	char services[INC_TEXT_MAX + 1];  /* present and required */
};

struct inc_checkin {
	char callsign[INC_SHORT_MAX + 1]; /* required */
	uint8_t status;                   /* enum inc_crew_status */
	uint8_t skills;                   /* bit set of enum inc_skill */
	char vehicle[INC_SHORT_MAX + 1];
	char location[INC_PLACE_MAX + 1];
	uint8_t n_members;                /* 0..INC_MEMBERS_MAX */
	uint8_t members[INC_MEMBERS_MAX][MU_KEY_BYTES]; /* staff keys: names come from credentials */
};

struct inc_assign {
	char callsign[INC_SHORT_MAX + 1]; /* required: the crew */
	char function[INC_SHORT_MAX + 1]; /* required: "forward command", "CCS", "triage", ... */
	char sector[INC_SHORT_MAX + 1];
	char note[INC_TEXT_MAX + 1];
};

struct inc_assign_ack {
	char callsign[INC_SHORT_MAX + 1]; /* required */
};

struct inc_request {
	uint8_t count;                  /* required, 1..99: people needed */
	uint8_t skill;                  /* enum inc_skill */
	char sector[INC_SHORT_MAX + 1]; /* required */
	char note[INC_TEXT_MAX + 1];
	uint8_t cancelled;              /* 0/1: an update (prev) that withdraws it */
};

struct inc_response {
	char callsign[INC_SHORT_MAX + 1]; /* required */
	uint8_t accept;                   /* 0 decline, 1 accept */
	uint8_t count;                    /* people offered, 1..99 when accepting */
};

struct inc_triage {
	char ccs[INC_SHORT_MAX + 1]; /* required: casualty clearing station */
	uint16_t count[4];           /* by enum inc_triage_cat, cumulative at `at` */
	uint64_t at;                 /* Unix ms of the count */
};

struct inc_casualty {
	char tag[INC_SHORT_MAX + 1];          /* required: triage tag number, never a name */
	uint8_t priority;                     /* enum inc_triage_cat, not TRIAGE_DEAD */
	char destination[INC_PLACE_MAX + 1];  /* required: receiving hospital */
	uint64_t departed;                    /* Unix ms, 0 = not yet */
	char note[INC_TEXT_MAX + 1];
};

struct inc_record {
	uint8_t type; /* enum inc_type */
	char incident[INC_NAME_MAX + 1]; /* required */
	bool has_prev, has_ref;
	uint8_t prev[BUNDLE_ID_BYTES];
	uint8_t ref[BUNDLE_ID_BYTES];
	union {
		struct inc_methane methane;
		struct inc_checkin checkin;
		struct inc_assign assign;
		struct inc_assign_ack ack;
		struct inc_request request;
		struct inc_response response;
		struct inc_triage triage;
		struct inc_casualty casualty;
	} u;
};

/* Static names: "methane", "checkin", ...; "declared", ...; "grid", ...;
 * "paramedic", ...; "available", ...; "P1", "P2", "P3", "dead". NULL for a
 * value without a name. The *_parse functions accept those names and
 * return MU_E_FORMAT otherwise. */
const char *inc_type_name(uint8_t type);
const char *inc_declared_name(uint8_t d);
const char *inc_loc_kind_name(uint8_t k);
const char *inc_skill_name(uint8_t skill);
const char *inc_crew_status_name(uint8_t s);
const char *inc_triage_name(uint8_t cat);
int inc_declared_parse(const char *s, uint8_t *out);
int inc_loc_kind_parse(const char *s, uint8_t *out);
int inc_skill_parse(const char *s, uint8_t *out);
int inc_crew_status_parse(const char *s, uint8_t *out);
int inc_triage_parse(const char *s, uint8_t *out);
int inc_type_parse(const char *s, uint8_t *out); /* "methane", "checkin", "assign", "ack", ... */

/* The checks inc_encode makes, without encoding: 0, MU_E_FORMAT or
 * MU_E_TOOBIG. Besides each field's cap and range: ref is present exactly
 * on INC_ASSIGN_ACK and INC_RESPONSE; a response that accepts offers
 * 1..99 people and a decline offers 0; a request with cancelled = 1 must
 * be an update (has prev); skills has no bit above SKILL_MAX. */
int inc_check(const struct inc_record *r);

/* Encodes r (after the same checks the decoder makes) into out. Returns the
 * length, MU_E_FORMAT for a missing required field, invalid text or an enum
 * out of range, MU_E_TOOBIG when it does not fit. */
int inc_encode(uint8_t *out, size_t cap, const struct inc_record *r);
/* Strict decoder (see above); *r is zeroed on entry and on failure.
 * MU_E_FORMAT, MU_E_TOOBIG or MU_E_VERSION on bad input. */
int inc_decode(struct inc_record *r, const uint8_t *in, size_t len);

/* ---- Views ----
 *
 * A scene is the derived state of one incident computed from the records a
 * node holds. It depends only on the set of records added, never on the
 * order: records are ordered by (created, bundle id), and an update wins
 * over what it names as prev. When records conflict (two updates of the
 * same thing that do not know of each other, a crew assigned twice, more
 * acceptances than a request needed) the view shows the conflict rather
 * than choosing silently. */

struct scene;

/* *out is owned by the caller (scene_free). incident: the incident to show,
 * or NULL for the most recently created incident among the records added.
 * -ENOMEM. */
int scene_new(struct scene **out, const char *incident);
void scene_free(struct scene *s); /* NULL-safe */

/* Adds one record. sender_name: display name and role from the sender's
 * credential ("Jo Bloggs (aic)") or the key's hex prefix; copied. A record
 * whose id was already added is ignored. -ENOMEM; MU_E_TOOBIG beyond
 * SCENE_RECORDS_MAX records. */
#define SCENE_RECORDS_MAX 100000
int scene_add(struct scene *s, const uint8_t id[static BUNDLE_ID_BYTES], const uint8_t sender[static MU_KEY_BYTES],
	      const char *sender_name, uint64_t created, const struct inc_record *r);

/* The incident the scene shows (the one asked for, or the latest seen);
 * "" before any record of it was added. */
const char *scene_incident(const struct scene *s);

/* The current record of one thing, to name as prev when updating it: type
 * INC_METHANE (key ignored), INC_CHECKIN (key = callsign), INC_ASSIGN
 * (key = callsign: name the crew's current assignment as prev when
 * reassigning, or the view shows two concurrent assignments), INC_TRIAGE
 * (key = CCS), INC_CASUALTY (key = tag), INC_REQUEST (key = the request's
 * id in hex, or a unique prefix of it of at least 8 digits). Fills id;
 * MU_E_NOTFOUND if there is none (or the prefix is ambiguous). With conflicting
 * heads it returns the one the view shows (latest by created, id). */
int scene_head(const struct scene *s, uint8_t type, const char *key, uint8_t id[static BUNDLE_ID_BYTES]);

/* Staff names for check-in members: called while rendering for each member
 * key; fills buf with a display name or returns non-zero for unknown. */
typedef int (*scene_name_fn)(void *ctx, const uint8_t key[static MU_KEY_BYTES], char *buf, size_t cap);

enum scene_view {
	VIEW_METHANE,  /* latest M/ETHANE with what changed, then history */
	VIEW_ROSTER,   /* crews: status, skills, members, assignment, acknowledged */
	VIEW_REQUESTS, /* staffing requests: open/filled/cancelled, who accepted */
	VIEW_TRIAGE,   /* per CCS P1/P2/P3/dead with time, totals; casualty movements */
	VIEW_REPORT,   /* incident report: all of the above as a timeline, for the record */
};

#define SCENE_F_JSON 1  /* one JSON document instead of text */
#define SCENE_F_COLOUR 2 /* ANSI colour in text (only when stdout is a TTY) */

/* Renders a view through out(ctx, text) in pieces; now (Unix ms) is for
 * "12 min ago" ages. Returns 0, or the first non-zero out() result. */
typedef int (*scene_out_fn)(void *ctx, const char *text);
int scene_render(struct scene *s, enum scene_view view, unsigned flags, uint64_t now, scene_name_fn names,
		 void *names_ctx, scene_out_fn out, void *out_ctx);

#endif
