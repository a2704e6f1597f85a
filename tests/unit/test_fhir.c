/* Archive exports and GDPR (node/export_fhir.h, export_report.h, gdpr.h):
 * a FHIR R4 Bundle built from a fixture archive and checked by a
 * structural validator written from the R4 spec (no FHIR validator is
 * available offline), every mapping, the incident report, subject access,
 * and erasure down to the bytes of a compacted copy of the LMDB file. */
#include <errno.h>
#include <lmdb.h>
#include <regex.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../crypto/envelope.h"
#include "archive_fixture.h"
#include "attach.h"
#include "export_fhir.h"
#include "export_report.h"
#include "gdpr.h"
#include "hex.h"
#include "incident.h"
#include "testutil.h"
#include "wire.h"

/* ---- a small JSON parser (test only: it reads what the exporter wrote) ---- */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jt t;
	char *s; /* J_STR */
	size_t n;
	struct jv **v; /* J_ARR items, J_OBJ values */
	char **k;      /* J_OBJ keys */
};

struct jp {
	const char *p, *end;
	int bad;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static struct jv *jnew(enum jt t)
{
	struct jv *v = calloc(1, sizeof(*v));

	CHECK(v);
	v->t = t;
	return v;
}

static char *jstring(struct jp *j)
{
	size_t cap = 16, n = 0;
	char *s = malloc(cap);

	CHECK(s);
	j->p++; /* opening quote */
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;

		if (c < 0x20)
			j->bad = 1;
		if (c == '\\') {
			if (j->p >= j->end) {
				j->bad = 1;
				break;
			}
			c = (unsigned char)*j->p++;
			if (c == 'n')
				c = '\n';
			else if (c == 'u') {
				unsigned u = 0;

				if (j->end - j->p < 4 || sscanf(j->p, "%4x", &u) != 1)
					j->bad = 1;
				j->p += 4;
				c = u < 0x80 ? (unsigned char)u : '?';
			} else if (c != '"' && c != '\\' && c != '/')
				j->bad = 1;
		}
		if (n + 2 > cap)
			CHECK(s = realloc(s, cap *= 2));
		s[n++] = (char)c;
	}
	if (j->p >= j->end)
		j->bad = 1;
	else
		j->p++;
	s[n] = 0;
	return s;
}

static struct jv *jparse(struct jp *j, int depth)
{
	struct jv *v;

	ws(j);
	if (j->p >= j->end || depth > 32) {
		j->bad = 1;
		return jnew(J_NULL);
	}
	if (*j->p == '{' || *j->p == '[') {
		bool obj = *j->p == '{';

		v = jnew(obj ? J_OBJ : J_ARR);
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
			j->p++;
			return v;
		}
		for (;;) {
			CHECK(v->v = realloc(v->v, (v->n + 1) * sizeof(*v->v)));
			if (obj) {
				CHECK(v->k = realloc(v->k, (v->n + 1) * sizeof(*v->k)));
				ws(j);
				if (j->p >= j->end || *j->p != '"') {
					j->bad = 1;
					return v;
				}
				v->k[v->n] = jstring(j);
				ws(j);
				if (j->p >= j->end || *j->p++ != ':') {
					v->v[v->n++] = jnew(J_NULL); /* so jfree frees the key */
					j->bad = 1;
					return v;
				}
			}
			v->v[v->n++] = jparse(j, depth + 1);
			ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == (obj ? '}' : ']'))
				j->p++;
			else
				j->bad = 1;
			return v;
		}
	}
	if (*j->p == '"') {
		v = jnew(J_STR);
		v->s = jstring(j);
		return v;
	}
	if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "null", 4)) {
		v = jnew(*j->p == 't' ? J_BOOL : J_NULL);
		j->p += 4;
		return v;
	}
	if (!strncmp(j->p, "false", 5)) {
		j->p += 5;
		return jnew(J_BOOL);
	}
	v = jnew(J_NUM);
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		j->bad = 1;
	while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.'))
		j->p++;
	return v;
}

static void jfree(struct jv *v);

static struct jv *json_parse(const char *s, size_t n)
{
	struct jp j = {s, s + n, 0};
	struct jv *v = jparse(&j, 0);

	ws(&j);
	if (j.bad || j.p != j.end) {
		jfree(v);
		return NULL;
	}
	return v;
}

static void jfree(struct jv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		jfree(v->v[i]);
		if (v->k)
			free(v->k[i]);
	}
	free(v->v);
	free(v->k);
	free(v->s);
	free(v);
}

static struct jv *jget(const struct jv *o, const char *key)
{
	for (size_t i = 0; o && o->t == J_OBJ && i < o->n; i++)
		if (!strcmp(o->k[i], key))
			return o->v[i];
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	struct jv *v = jget(o, key);

	return v && v->t == J_STR ? v->s : NULL;
}

/* ---- the structural validator ---- */

/* Element names of the R4 resources and datatypes the exporter emits
 * (hl7.org/fhir/R4: Bundle, Communication, Practitioner, Reference,
 * Identifier, CodeableConcept, Coding, Attachment, Annotation, HumanName). */
static const char *const k_bundle[] = {"resourceType", "id",        "meta",      "implicitRules", "language",
				       "identifier",   "type",      "timestamp", "total",         "link",
				       "entry",        "signature", NULL};
static const char *const k_entry[] = {"id",       "extension", "modifierExtension", "link",     "fullUrl",
				      "resource", "search",    "request",           "response", NULL};
static const char *const k_comm[] = {"resourceType",
				     "id",
				     "meta",
				     "implicitRules",
				     "language",
				     "text",
				     "contained",
				     "extension",
				     "modifierExtension",
				     "identifier",
				     "instantiatesCanonical",
				     "instantiatesUri",
				     "basedOn",
				     "partOf",
				     "inResponseTo",
				     "status",
				     "statusReason",
				     "category",
				     "priority",
				     "medium",
				     "subject",
				     "topic",
				     "about",
				     "encounter",
				     "sent",
				     "received",
				     "recipient",
				     "sender",
				     "reasonCode",
				     "reasonReference",
				     "payload",
				     "note",
				     NULL};
static const char *const k_prac[] = {
    "resourceType", "id",        "meta",          "implicitRules",     "language",
    "text",         "contained", "extension",     "modifierExtension", "identifier",
    "active",       "name",      "telecom",       "address",           "gender",
    "birthDate",    "photo",     "qualification", "communication",     NULL};
static const char *const k_ref[] = {"id", "extension", "reference", "type", "identifier", "display", NULL};
static const char *const k_ident[] = {"id",    "extension", "use",      "type", "system",
				      "value", "period",    "assigner", NULL};
static const char *const k_cc[] = {"id", "extension", "coding", "text", NULL};
static const char *const k_coding[] = {"id",   "extension", "system",       "version",
				       "code", "display",   "userSelected", NULL};
static const char *const k_payload[] = {
    "id", "extension", "modifierExtension", "contentString", "contentAttachment", "contentReference", NULL};
static const char *const k_attach[] = {"id",   "extension", "contentType", "language", "data", "url",
				       "size", "hash",      "title",       "creation", NULL};
static const char *const k_annot[] = {"id",   "extension", "authorReference", "authorString", "time",
				      "text", NULL};
static const char *const k_name[] = {"id",    "extension", "use",    "text",   "family",
				     "given", "prefix",    "suffix", "period", NULL};
static const char *const k_qual[] = {
    "id", "extension", "modifierExtension", "identifier", "code", "period", "issuer", NULL};

struct vctx {
	const struct jv *root;
	const char *why;
};

static bool fail_(struct vctx *c, const char *why)
{
	if (!c->why)
		c->why = why;
	return false;
}

static bool keys_ok(struct vctx *c, const struct jv *o, const char *const *allowed, const char *what)
{
	if (!o || o->t != J_OBJ)
		return fail_(c, what);
	for (size_t i = 0; i < o->n; i++) {
		size_t k;

		for (k = 0; allowed[k] && strcmp(allowed[k], o->k[i]); k++)
			;
		if (!allowed[k]) {
			fprintf(stderr, "unknown key %s in %s\n", o->k[i], what);
			return fail_(c, what);
		}
		/* FHIR JSON: no empty arrays, objects or strings. */
		if ((o->v[i]->t == J_ARR || o->v[i]->t == J_OBJ) && !o->v[i]->n)
			return fail_(c, "empty array or object");
		if (o->v[i]->t == J_STR && !*o->v[i]->s)
			return fail_(c, "empty string");
	}
	return true;
}

static bool matches(const char *re, const char *s)
{
	regex_t r;
	bool ok;

	CHECK(!regcomp(&r, re, REG_EXTENDED | REG_NOSUB));
	ok = s && !regexec(&r, s, 0, NULL, 0);
	regfree(&r);
	return ok;
}

#define RE_INSTANT                                                                                           \
	"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)("  \
	"\\.[0-9]{1,9})?"                                                                                    \
	"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$"
#define RE_ID   "^[A-Za-z0-9.-]{1,64}$"
#define RE_UUID "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

static bool in_set(const char *s, const char *const *set)
{
	for (size_t i = 0; s && set[i]; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

/* The entry whose fullUrl is ref, or NULL. */
static const struct jv *resolve(const struct jv *root, const char *ref)
{
	const struct jv *e = jget(root, "entry");

	for (size_t i = 0; ref && e && i < e->n; i++)
		if (jstr(e->v[i], "fullUrl") && !strcmp(jstr(e->v[i], "fullUrl"), ref))
			return jget(e->v[i], "resource");
	return NULL;
}

static bool reference_ok(struct vctx *c, const struct jv *r, const char *type)
{
	const struct jv *t;

	if (!keys_ok(c, r, k_ref, "Reference"))
		return false;
	if (jget(r, "identifier") && !keys_ok(c, jget(r, "identifier"), k_ident, "Reference.identifier"))
		return false;
	if (!jstr(r, "reference"))
		return !!jget(r, "identifier") || fail_(c, "reference without reference or identifier");
	t = resolve(c->root, jstr(r, "reference"));
	if (!t)
		return fail_(c, "reference does not resolve in the bundle");
	return (type && strcmp(jstr(t, "resourceType"), type)) ? fail_(c, "reference to the wrong type")
							       : true;
}

static bool array_of(struct vctx *c, const struct jv *a, const char *what)
{
	return a && a->t == J_ARR && a->n ? true : fail_(c, what);
}

static bool cc_ok(struct vctx *c, const struct jv *cc)
{
	const struct jv *cod = jget(cc, "coding");

	if (!keys_ok(c, cc, k_cc, "CodeableConcept"))
		return false;
	for (size_t i = 0; cod && i < cod->n; i++)
		if (!keys_ok(c, cod->v[i], k_coding, "Coding") || !jstr(cod->v[i], "system") ||
		    !jstr(cod->v[i], "code"))
			return fail_(c, "Coding without system and code");
	return true;
}

static bool communication_ok(struct vctx *c, const struct jv *r)
{
	static const char *const status[] = {"preparation",      "in-progress", "not-done",
					     "on-hold",          "stopped",     "completed",
					     "entered-in-error", "unknown",     NULL};
	static const char *const prio[] = {"routine", "urgent", "asap", "stat", NULL};
	const struct jv *a;

	if (!keys_ok(c, r, k_comm, "Communication"))
		return false;
	if (!in_set(jstr(r, "status"), status))
		return fail_(c, "Communication.status not in the value set");
	if (jget(r, "priority") && !in_set(jstr(r, "priority"), prio))
		return fail_(c, "Communication.priority not in the value set");
	if (!matches(RE_INSTANT, jstr(r, "sent")) || !matches(RE_INSTANT, jstr(r, "received")))
		return fail_(c, "sent/received not a dateTime");
	if (!reference_ok(c, jget(r, "sender"), "Practitioner"))
		return false;
	if ((a = jget(r, "recipient")))
		for (size_t i = 0; i < a->n; i++)
			if (!reference_ok(c, a->v[i], "Practitioner"))
				return false;
	if ((a = jget(r, "about")))
		for (size_t i = 0; i < a->n; i++)
			if (!reference_ok(c, a->v[i], NULL))
				return false;
	if ((a = jget(r, "category")))
		for (size_t i = 0; i < a->n; i++)
			if (!cc_ok(c, a->v[i]))
				return false;
	if ((a = jget(r, "identifier")))
		for (size_t i = 0; i < a->n; i++)
			if (!keys_ok(c, a->v[i], k_ident, "Identifier"))
				return false;
	if ((a = jget(r, "note")))
		for (size_t i = 0; i < a->n; i++)
			if (!keys_ok(c, a->v[i], k_annot, "Annotation") || !jstr(a->v[i], "text"))
				return fail_(c, "Annotation without text");
	if ((a = jget(r, "payload"))) {
		for (size_t i = 0; i < a->n; i++) {
			const struct jv *p = a->v[i], *at = jget(p, "contentAttachment");
			int n = !!jget(p, "contentString") + !!at + !!jget(p, "contentReference");

			if (!keys_ok(c, p, k_payload, "Communication.payload") || n != 1)
				return fail_(c, "payload needs exactly one content[x]");
			if (at && (!keys_ok(c, at, k_attach, "Attachment") ||
				   !matches("^[a-z0-9.+-]+/[a-z0-9.+-]+$", jstr(at, "contentType")) ||
				   !jget(at, "size") || jget(at, "size")->t != J_NUM))
				return fail_(c, "Attachment");
		}
	}
	return true;
}

static bool practitioner_ok(struct vctx *c, const struct jv *r)
{
	const struct jv *a;

	if (!keys_ok(c, r, k_prac, "Practitioner") || !array_of(c, jget(r, "identifier"), "identifier"))
		return false;
	a = jget(r, "identifier");
	for (size_t i = 0; i < a->n; i++)
		if (!keys_ok(c, a->v[i], k_ident, "Identifier") || !jstr(a->v[i], "system") ||
		    !jstr(a->v[i], "value"))
			return fail_(c, "Practitioner.identifier without system and value");
	if ((a = jget(r, "name")))
		for (size_t i = 0; i < a->n; i++)
			if (!keys_ok(c, a->v[i], k_name, "HumanName"))
				return false;
	if ((a = jget(r, "qualification")))
		for (size_t i = 0; i < a->n; i++)
			if (!keys_ok(c, a->v[i], k_qual, "qualification") || !jget(a->v[i], "code") ||
			    !cc_ok(c, jget(a->v[i], "code")))
				return fail_(c, "qualification without code");
	return true;
}

/* NULL if bundle is a valid collection Bundle of our resources, else why. */
static const char *validate(const struct jv *root)
{
	struct vctx c = {root, NULL};
	const struct jv *e = jget(root, "entry");

	if (!root || !keys_ok(&c, root, k_bundle, "Bundle"))
		return c.why ? c.why : "not an object";
	if (!jstr(root, "resourceType") || strcmp(jstr(root, "resourceType"), "Bundle"))
		return "resourceType is not Bundle";
	if (!in_set(jstr(root, "type"), (const char *const[]){"collection", NULL}))
		return "Bundle.type";
	if (!matches(RE_INSTANT, jstr(root, "timestamp")) || !matches(RE_ID, jstr(root, "id")))
		return "Bundle.timestamp or id";
	if (jget(root, "total"))
		return "total is only for searchset and history (bdl-1)";
	for (size_t i = 0; e && i < e->n; i++) {
		const struct jv *r = jget(e->v[i], "resource");
		const char *rt = jstr(r, "resourceType");

		if (!keys_ok(&c, e->v[i], k_entry, "entry") || !r ||
		    !matches(RE_UUID, jstr(e->v[i], "fullUrl")))
			return c.why ? c.why : "entry needs fullUrl (urn:uuid) and resource";
		for (size_t k = 0; k < i; k++)
			if (!strcmp(jstr(e->v[k], "fullUrl"), jstr(e->v[i], "fullUrl")))
				return "duplicate fullUrl (bdl-7)";
		if (!matches(RE_ID, jstr(r, "id")))
			return "resource id";
		if (!rt ||
		    !(strcmp(rt, "Communication")
			  ? strcmp(rt, "Practitioner") ? fail_(&c, "resourceType") : practitioner_ok(&c, r)
			  : communication_ok(&c, r)))
			return c.why ? c.why : "resource";
	}
	return NULL;
}

/* ---- the fixture: real envelopes, credentials, content of every kind ---- */

struct world {
	struct fixture f;
	struct mu_identity *ca, *doctor, *arch, *stranger;
	struct cred creds[3]; /* sender (paramedic), doctor, archive */
	struct export_dir dir;
	uint8_t ids[12][BUNDLE_ID_BYTES]; /* N_ITEMS, then test_attachments' */
	uint64_t created[12], archived[12];
	uint8_t sealed_tail[12][32]; /* the last bytes of each stored record */
	uint8_t sig[12][MU_SIG_BYTES];
};

static void issue(struct world *w, struct cred *c, const struct mu_identity *id, uint8_t role,
		  const char *name, const char *reg)
{
	uint8_t enc[CRED_ENC_MAX];

	memset(c, 0, sizeof(*c));
	c->role = role;
	snprintf(c->subject, sizeof(c->subject), "staff-%s", name);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->org, sizeof(c->org), "NWAS");
	snprintf(c->reg, sizeof(c->reg), "%s", reg);
	memcpy(c->sign_pk, identity_sign_pk(id), MU_KEY_BYTES);
	memcpy(c->kx_pk, identity_kx_pk(id), MU_KEY_BYTES);
	c->valid_from = 0;
	c->valid_until = UINT64_MAX;
	CHECK_LEN(cred_issue(enc, sizeof(enc), c, w->ca));
}

static void put(struct world *w, unsigned i, const struct mu_identity *from, uint8_t prio, uint8_t dest_type,
		uint8_t role, const uint8_t *content, size_t clen)
{
	static uint8_t env[8192], enc[BUNDLE_ENC_MAX], rec[ARCHIVE_REC_MAX];
	struct envelope_recipient r[3];
	struct bundle b = {
	    .kind = BK_MESSAGE,
	    .prio = prio,
	    .hop_limit = 8,
	    .created = 1795363411000ull + 60000ull * i,
	    .dest_type = dest_type,
	};
	size_t rl = 0;
	int len;

	b.expires = b.created + 3600000;
	if (dest_type == DEST_ROLE) {
		b.dest[0] = role;
		b.dest_len = 1;
	}
	memcpy(r[0].key, identity_sign_pk(from), MU_KEY_BYTES);
	memcpy(r[0].kx_pk, identity_kx_pk(from), MU_KEY_BYTES);
	memcpy(r[1].key, identity_sign_pk(w->doctor), MU_KEY_BYTES);
	memcpy(r[1].kx_pk, identity_kx_pk(w->doctor), MU_KEY_BYTES);
	memcpy(r[2].key, identity_sign_pk(w->arch), MU_KEY_BYTES);
	memcpy(r[2].kx_pk, identity_kx_pk(w->arch), MU_KEY_BYTES);
	len = CHECK_LEN(envelope_seal(env, sizeof(env), content, clen, r, 3, identity_sign_pk(from)));
	b.payload = env;
	b.payload_len = (size_t)len;
	len = CHECK_LEN(bundle_seal(enc, sizeof(enc), &b, from));
	memcpy(w->ids[i], b.id, BUNDLE_ID_BYTES);
	memcpy(w->sig[i], enc + len - MU_SIG_BYTES, MU_SIG_BYTES);
	w->created[i] = b.created;
	w->archived[i] = b.created + 5000;
	CHECK_OK(archive_put(w->f.a, enc, (size_t)len, content, clen, w->archived[i]));
	CHECK_OK(archive_test_raw_get(w->f.a, "items", b.id, BUNDLE_ID_BYTES, rec, sizeof(rec), &rl));
	CHECK(rl > 64);
	memcpy(w->sealed_tail[i], rec + rl - 32, 32);
}

static void put_text(struct world *w, unsigned i, const struct mu_identity *from, uint8_t kind, uint8_t prio,
		     uint8_t dest_type, uint8_t role, const char *text)
{
	uint8_t c[512];

	c[0] = kind;
	memcpy(c + 1, text, strlen(text));
	put(w, i, from, prio, dest_type, role, c, 1 + strlen(text));
}

static void put_record(struct world *w, unsigned i, uint8_t prio, const struct inc_record *r)
{
	uint8_t c[1 + INC_ENC_MAX];

	c[0] = CONTENT_INCIDENT;
	put(w, i, w->f.sender, prio, DEST_ALL, 0, c,
	    1 + (size_t)CHECK_LEN(inc_encode(c + 1, INC_ENC_MAX, r)));
}

#define I_TEXT     0 /* mentions T0042; role:doctor; immediate */
#define I_METHANE  1 /* INC-1 */
#define I_CASUALTY 2 /* INC-1, tag T0042 */
#define I_NOTWORD  3 /* "T00420": not the tag */
#define I_ATTACH   4 /* caption mentions t0042 */
#define I_ALERT    5 /* from a sender without a credential */
#define I_OTHER    6 /* INC-2, tag T0099 */
#define N_ITEMS    7

static void world_open(struct world *w, const char *tag)
{
	static struct inc_record rec;
	uint8_t c[1 + 4096], hash[ATTACH_HASH_BYTES] = {1};
	struct attach_manifest m = {.size = 1000, .chunk_bytes = ATTACH_CHUNK_BYTES, .count = 1};

	memset(w, 0, sizeof(*w));
	fixture_open(&w->f, tag);
	CHECK_OK(identity_generate(&w->ca));
	CHECK_OK(identity_generate(&w->doctor));
	CHECK_OK(identity_generate(&w->arch));
	CHECK_OK(identity_generate(&w->stranger));
	issue(w, &w->creds[0], w->f.sender, ROLE_PARAMEDIC, "Pat Medic", "HCPC PA123456");
	issue(w, &w->creds[1], w->doctor, ROLE_DOCTOR, "Dana Doctor", "GMC 7654321");
	issue(w, &w->creds[2], w->arch, ROLE_HOSPITAL_ARCHIVE, "Royal Infirmary archive", "");
	w->dir.c = w->creds;
	w->dir.n = 3;

	put_text(w, I_TEXT, w->f.sender, CONTENT_TEXT, PRIO_IMMEDIATE, DEST_ROLE, ROLE_DOCTOR,
		 "Patient T0042 has a \"head injury\", GCS 9");

	memset(&rec, 0, sizeof(rec));
	rec.type = INC_METHANE;
	strcpy(rec.incident, "INC-1");
	rec.u.methane.declared = METHANE_DECLARED;
	rec.u.methane.loc_kind = LOC_TEXT;
	strcpy(rec.u.methane.location, "Victoria Station concourse");
	strcpy(rec.u.methane.type, "structural collapse");
	strcpy(rec.u.methane.services, "fire, police");
	rec.u.methane.casualties[0] = 4;
	put_record(w, I_METHANE, PRIO_IMMEDIATE, &rec);

	memset(&rec, 0, sizeof(rec));
	rec.type = INC_CASUALTY;
	strcpy(rec.incident, "INC-1");
	strcpy(rec.u.casualty.tag, "T0042");
	rec.u.casualty.priority = TRIAGE_P1;
	strcpy(rec.u.casualty.destination, "Royal Infirmary");
	rec.u.casualty.departed = 1795363500000ull;
	put_record(w, I_CASUALTY, PRIO_URGENT, &rec);

	put_text(w, I_NOTWORD, w->f.sender, CONTENT_TEXT, PRIO_ROUTINE, DEST_ALL, 0,
		 "bay T00420 and XT0042 are free");

	m.id[0] = 7;
	strcpy(m.name, "wound.jpg");
	strcpy(m.mime, "image/jpeg");
	m.caption = (const uint8_t *)"wound of t0042, left arm";
	m.caption_len = strlen((const char *)m.caption);
	m.hashes = hash;
	c[0] = CONTENT_ATTACHMENT;
	put(w, I_ATTACH, w->f.sender, PRIO_BULK, DEST_ALL, 0, c,
	    1 + (size_t)CHECK_LEN(attach_manifest_encode(c + 1, sizeof(c) - 1, &m)));

	put_text(w, I_ALERT, w->stranger, CONTENT_ALERT, PRIO_URGENT, DEST_ALL, 0, "all crews stand by");

	memset(&rec, 0, sizeof(rec));
	rec.type = INC_CASUALTY;
	strcpy(rec.incident, "INC-2");
	strcpy(rec.u.casualty.tag, "T0099");
	rec.u.casualty.priority = TRIAGE_P2;
	strcpy(rec.u.casualty.destination, "General");
	put_record(w, I_OTHER, PRIO_ROUTINE, &rec);
}

static void world_close(struct world *w)
{
	identity_free(w->ca);
	identity_free(w->doctor);
	identity_free(w->arch);
	identity_free(w->stranger);
	fixture_close(&w->f);
}

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_out(void *ctx, const char *s, size_t n)
{
	struct buf *b = ctx;

	if (b->n + n + 1 > b->cap) {
		b->cap = 2 * (b->n + n + 1);
		CHECK(b->p = realloc(b->p, b->cap));
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

static struct jv *export(struct world *w, const struct fhir_opts *o, struct fhir_result *res, struct buf *b)
{
	struct jv *root;
	const char *why;
	uint8_t d[32];

	memset(b, 0, sizeof(*b));
	CHECK_OK(fhir_export(w->f.a, &w->dir, o, buf_out, b, res));
	crypto_generichash(d, sizeof(d), (const uint8_t *)b->p, b->n, NULL, 0);
	CHECK(!memcmp(d, res->digest, sizeof(d))); /* the digest the audit entry records */
	if (getenv("FHIR_DUMP")) /* to read the output: FHIR_DUMP=1 test_fhir /export/fhir | jq */
		fputs(b->p, stdout);
	root = json_parse(b->p, b->n);
	CHECK(root);
	why = validate(root);
	if (why)
		fprintf(stderr, "invalid bundle: %s\n%s\n", why, b->p);
	CHECK(!why);
	return root;
}

static const struct jv *comm_of(const struct jv *root, const uint8_t id[static BUNDLE_ID_BYTES])
{
	const struct jv *e = jget(root, "entry");
	char hx[2 * BUNDLE_ID_BYTES + 1];

	hex_encode(hx, id, BUNDLE_ID_BYTES);
	for (size_t i = 0; i < e->n; i++) {
		const struct jv *r = jget(e->v[i], "resource");

		if (!strcmp(jstr(r, "resourceType"), "Communication") && !strcmp(jstr(r, "id"), hx))
			return r;
	}
	return NULL;
}

static size_t count_type(const struct jv *root, const char *type)
{
	const struct jv *e = jget(root, "entry");
	size_t n = 0;

	for (size_t i = 0; e && i < e->n; i++)
		n += !strcmp(jstr(jget(e->v[i], "resource"), "resourceType"), type);
	return n;
}

static bool has_code(const struct jv *r, const char *system, const char *code)
{
	const struct jv *cat = jget(r, "category");

	for (size_t i = 0; cat && i < cat->n; i++) {
		const struct jv *cod = jget(cat->v[i], "coding");

		for (size_t k = 0; cod && k < cod->n; k++)
			if (!strcmp(jstr(cod->v[k], "system"), system) &&
			    !strcmp(jstr(cod->v[k], "code"), code))
				return true;
	}
	return false;
}

static const char *first_payload(const struct jv *r)
{
	const struct jv *p = jget(r, "payload");

	return p && p->n ? jstr(p->v[0], "contentString") : NULL;
}

/* ---- tests ---- */

static void test_validator_catches(void)
{
	static const char *const bad[] = {
	    "{\"resourceType\":\"Bundle\",\"id\":\"a\",\"type\":\"document\",\"timestamp\":\"2026-01-01T00:"
	    "00:00.000Z\"}",
	    "{\"resourceType\":\"Bundle\",\"id\":\"a\",\"type\":\"collection\",\"timestamp\":\"2026-01-01 "
	    "00:00\"}",
	    "{\"resourceType\":\"Bundle\",\"id\":\"a\",\"type\":\"collection\",\"timestamp\":\"2026-01-01T00:"
	    "00:00Z\","
	    "\"entry\":[{\"fullUrl\":\"urn:uuid:00000000-0000-5000-8000-000000000000\",\"resource\":{"
	    "\"resourceType\":"
	    "\"Communication\",\"id\":\"x\",\"status\":\"done\",\"sent\":\"2026-01-01T00:00:00Z\","
	    "\"received\":"
	    "\"2026-01-01T00:00:00Z\"}}]}",
	    "{\"resourceType\":\"Bundle\",\"id\":\"a\",\"type\":\"collection\",\"timestamp\":\"2026-01-01T00:"
	    "00:00Z\","
	    "\"entry\":[{\"fullUrl\":\"urn:uuid:00000000-0000-5000-8000-000000000000\",\"resource\":{"
	    "\"resourceType\":"
	    "\"Communication\",\"id\":\"x\",\"status\":\"completed\",\"sent\":\"2026-01-01T00:00:00Z\","
	    "\"received\":"
	    "\"2026-01-01T00:00:00Z\",\"sender\":{\"reference\":\"urn:uuid:10000000-0000-5000-8000-"
	    "000000000000\"}}}]}",
	    ("{\"resourceType\":\"Bundle\",\"id\":\"a\",\"type\":\"collection\",\"timestamp\":\"2026-01-"
	     "01T00:00:00Z\","
	     "\"colour\":\"red\"}"),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jv *v = json_parse(bad[i], strlen(bad[i]));

		CHECK(v);
		CHECK(validate(v) != NULL);
		jfree(v);
	}
	CHECK(!json_parse("{\"a\":1", 6));
	CHECK(!json_parse("{\"a\":\"\x01\"}", 9));
}

static void test_bundle(void)
{
	static const char *const prio[N_ITEMS] = {"stat",    "stat", "asap",   "routine",
						  "routine", "asap", "routine"};
	struct world w;
	struct fhir_opts o = {.now = 1795370000123ull};
	struct fhir_result res;
	const struct jv *c, *p, *a;
	char t[48], key[2 * MU_KEY_BYTES + 1], u[FHIR_UUID_CHARS + 10];
	struct buf b;
	struct jv *root;

	world_open(&w, "fhir-bundle");
	root = export(&w, &o, &res, &b);
	CHECK(res.communications == N_ITEMS && res.erased == 0 && res.skipped == 0);
	CHECK(count_type(root, "Communication") == N_ITEMS);
	CHECK(count_type(root, "Practitioner") == 3); /* paramedic, doctor, the stranger; not the archive */
	CHECK(res.practitioners == 3);
	CHECK(!strcmp(jstr(root, "timestamp"), "2026-11-22T17:53:20.123Z"));

	for (unsigned i = 0; i < N_ITEMS; i++) {
		c = comm_of(root, w.ids[i]);
		CHECK(c);
		CHECK(!strcmp(jstr(c, "status"), "completed"));
		CHECK(!strcmp(jstr(c, "priority"), prio[i]));
		export_iso_time(t, w.created[i]);
		CHECK(!strcmp(jstr(c, "sent"), t));
		export_iso_time(t, w.archived[i]);
		CHECK(!strcmp(jstr(c, "received"), t));
		CHECK(!strcmp(jstr(jget(c, "identifier")->v[0], "system"), "urn:muster:bundle"));
		CHECK(!strcmp(jstr(jget(c, "identifier")->v[0], "value"), jstr(c, "id")));
		/* the archive and the sender are never recipients; the doctor always is */
		a = jget(c, "recipient");
		CHECK(a && a->n == 1 && !strcmp(jstr(a->v[0], "display"), "Dana Doctor"));
	}
	/* text: payload, category, destination note, sender Practitioner */
	c = comm_of(root, w.ids[I_TEXT]);
	CHECK(!strcmp(first_payload(c), "Patient T0042 has a \"head injury\", GCS 9"));
	CHECK(has_code(c, "http://terminology.hl7.org/CodeSystem/communication-category", "notification"));
	CHECK(has_code(c, "urn:muster:content", "text"));
	CHECK(!strcmp(jstr(jget(c, "note")->v[0], "text"), "Muster destination: role doctor"));
	CHECK(!jget(c, "about"));
	CHECK(!strcmp(jstr(jget(c, "sender"), "display"), "Pat Medic"));
	p = resolve(root, jstr(jget(c, "sender"), "reference"));
	fhir_uuid(u, "key", identity_sign_pk(w.f.sender), MU_KEY_BYTES);
	CHECK(!strcmp(jstr(p, "id"), u));
	a = jget(p, "identifier");
	hex_encode(key, identity_sign_pk(w.f.sender), MU_KEY_BYTES);
	CHECK(a->n == 3);
	CHECK(!strcmp(jstr(a->v[0], "system"), "urn:muster:registration") &&
	      !strcmp(jstr(a->v[0], "value"), "HCPC PA123456"));
	CHECK(!strcmp(jstr(a->v[1], "system"), "urn:muster:staff-id") &&
	      !strcmp(jstr(a->v[1], "value"), "staff-Pat Medic"));
	CHECK(!strcmp(jstr(a->v[2], "system"), "urn:muster:key") && !strcmp(jstr(a->v[2], "value"), key));
	CHECK(!strcmp(jstr(jget(p, "name")->v[0], "text"), "Pat Medic"));
	CHECK(!strcmp(jstr(jget(jget(p, "qualification")->v[0], "code"), "text"), "paramedic"));
	CHECK(!strcmp(jstr(jget(jget(p, "qualification")->v[0], "issuer"), "display"), "NWAS"));

	/* incident records: about = the incident, a readable line, the type in a note */
	c = comm_of(root, w.ids[I_METHANE]);
	CHECK(has_code(c, "urn:muster:content", "incident-record"));
	a = jget(c, "about");
	CHECK(a && a->n == 1 && !strcmp(jstr(jget(a->v[0], "identifier"), "system"), "urn:muster:incident"));
	CHECK(!strcmp(jstr(jget(a->v[0], "identifier"), "value"), "INC-1"));
	CHECK(strstr(first_payload(c),
		     "M/ETHANE (declared) incident INC-1: location Victoria Station concourse"));
	CHECK(strstr(first_payload(c), "casualties P1 4 P2 0"));
	CHECK(!strcmp(jstr(jget(c, "note")->v[1], "text"), "Muster incident record: methane"));
	c = comm_of(root, w.ids[I_CASUALTY]);
	CHECK(!strcmp(
	    first_payload(c),
	    "Casualty T0042 P1 to Royal Infirmary, departed 2026-11-22T16:05:00.000Z, incident INC-1"));

	/* attachment: contentAttachment with type, title, size; caption in a note */
	c = comm_of(root, w.ids[I_ATTACH]);
	a = jget(jget(c, "payload")->v[0], "contentAttachment");
	CHECK(a && !strcmp(jstr(a, "contentType"), "image/jpeg") && !strcmp(jstr(a, "title"), "wound.jpg"));
	/* no chunk of it is archived: a url, not data, and a note says so */
	CHECK(strstr(b.p, "\"size\":1000,\"url\":\"urn:muster:attachment:"));
	CHECK(!jget(a, "data"));
	CHECK(!strcmp(jstr(jget(c, "note")->v[1], "text"), "wound of t0042, left arm"));
	CHECK(!strcmp(jstr(jget(c, "note")->v[2], "text"), "attachment incomplete in the archive: 0 of 1 chunks"));

	/* alert from a sender with no credential: category alert, a nameless Practitioner */
	c = comm_of(root, w.ids[I_ALERT]);
	CHECK(has_code(c, "http://terminology.hl7.org/CodeSystem/communication-category", "alert"));
	p = resolve(root, jstr(jget(c, "sender"), "reference"));
	CHECK(p && !jget(p, "name") && jget(p, "identifier")->n == 1);
	CHECK(!strncmp(jstr(jget(c, "sender"), "display"), "unknown sender ", 15));
	jfree(root);
	free(b.p);

	/* --incident keeps records of that incident and every non-record */
	o.incident = "INC-1";
	root = export(&w, &o, &res, &b);
	CHECK(res.communications == N_ITEMS - 1 && res.skipped == 1 && !comm_of(root, w.ids[I_OTHER]));
	jfree(root);
	free(b.p);
	/* --since: created at or after */
	o.incident = NULL;
	o.since = w.created[I_ATTACH];
	root = export(&w, &o, &res, &b);
	CHECK(res.communications == 3 && res.skipped == 4 && comm_of(root, w.ids[I_ATTACH]) &&
	      !comm_of(root, w.ids[I_NOTWORD]));
	CHECK(count_type(root, "Practitioner") == 3);
	jfree(root);
	free(b.p);
	world_close(&w);
}

static void test_helpers(void)
{
	char u[FHIR_UUID_CHARS + 1], u2[FHIR_UUID_CHARS + 1];
	uint8_t k[32] = {1}, k2[32] = {2};
	uint64_t ms;
	struct buf b = {0};

	fhir_uuid(u, "key", k, sizeof(k));
	fhir_uuid(u2, "key", k, sizeof(k));
	CHECK(!strcmp(u, u2) && strlen(u) == 36 && u[14] == '5' && strchr("89ab", u[19]));
	fhir_uuid(u2, "key", k2, sizeof(k2));
	CHECK(strcmp(u, u2));
	fhir_uuid(u2, "bundle", k, sizeof(k));
	CHECK(strcmp(u, u2));

	CHECK_OK(export_time_parse("1795363411294", &ms));
	CHECK(ms == 1795363411294ull);
	CHECK_OK(export_time_parse("2026-11-22T16:03:31.294Z", &ms));
	CHECK(ms == 1795363411294ull);
	CHECK_OK(export_time_parse("2026-11-22T16:03:31Z", &ms));
	CHECK(ms == 1795363411000ull);
	CHECK_RET(export_time_parse("2026-11-22 16:03:31Z", &ms), MU_E_FORMAT);
	CHECK_RET(export_time_parse("2026-13-22T16:03:31Z", &ms), MU_E_FORMAT);
	CHECK_RET(export_time_parse("", &ms), MU_E_FORMAT);
	CHECK_RET(export_time_parse("12ab", &ms), MU_E_FORMAT);

	/* untrusted bytes always become valid JSON */
	CHECK_OK(export_json_str(buf_out, &b, (const uint8_t *)"a\"b\\c\n\x01\xff\xc3\xa9", 10));
	CHECK(!strcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc3\xa9\""));
	free(b.p);
}

static void test_subject(void)
{
	struct gdpr_subject s, s2;
	uint8_t(*ids)[BUNDLE_ID_BYTES] = NULL;
	uint8_t d1[32], d2[32];
	char big[GDPR_SUBJECT_MAX + 2];
	struct world w;
	size_t n;

	CHECK_RET(gdpr_subject_set(&s, GDPR_TAG, "T1"), MU_E_FORMAT);
	CHECK_RET(gdpr_subject_set(&s, GDPR_TAG, "---"), MU_E_FORMAT);
	CHECK_RET(gdpr_subject_set(&s, GDPR_TAG, "T00\n42"), MU_E_FORMAT);
	CHECK_RET(gdpr_subject_set(&s, 9, "T0042"), MU_E_FORMAT);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK_RET(gdpr_subject_set(&s, GDPR_REF, big), MU_E_FORMAT);
	big[GDPR_SUBJECT_MAX] = 0;
	CHECK_OK(gdpr_subject_set(&s, GDPR_REF, big));

	/* the digest ignores case, keeps the kind, and is not the text */
	CHECK_OK(gdpr_subject_set(&s, GDPR_TAG, "T0042"));
	CHECK_OK(gdpr_subject_set(&s2, GDPR_TAG, "t0042"));
	gdpr_subject_digest(d1, &s);
	gdpr_subject_digest(d2, &s2);
	CHECK(!memcmp(d1, d2, 32));
	CHECK_OK(gdpr_subject_set(&s2, GDPR_REF, "T0042"));
	gdpr_subject_digest(d2, &s2);
	CHECK(memcmp(d1, d2, 32));

	CHECK(gdpr_matches(&s, (const uint8_t *)"\x01see T0042.", 10));
	CHECK(gdpr_matches(&s, (const uint8_t *)"\x01t0042", 6));
	CHECK(!gdpr_matches(&s, (const uint8_t *)"\x01T00420", 7));
	CHECK(!gdpr_matches(&s, (const uint8_t *)"\x01xT0042", 7));
	CHECK(!gdpr_matches(&s, (const uint8_t *)"\x01T004", 5));
	CHECK(!gdpr_matches(&s, (const uint8_t *)"", 0));

	world_open(&w, "fhir-subject");
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 3);
	CHECK(!memcmp(ids[0], w.ids[I_TEXT], 32) && !memcmp(ids[1], w.ids[I_CASUALTY], 32) &&
	      !memcmp(ids[2], w.ids[I_ATTACH], 32));
	free(ids);
	CHECK_OK(gdpr_subject_set(&s, GDPR_REF, "Victoria Station"));
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 1 && !memcmp(ids[0], w.ids[I_METHANE], 32));
	free(ids);
	CHECK_OK(gdpr_subject_set(&s, GDPR_TAG, "T0099"));
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 1 && !memcmp(ids[0], w.ids[I_OTHER], 32));
	free(ids);
	CHECK_OK(gdpr_subject_set(&s, GDPR_TAG, "T7777"));
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 0 && !ids);
	world_close(&w);
}

static void test_report(void)
{
	struct report_result res;
	struct world w;
	struct buf b = {0};

	world_open(&w, "fhir-report");
	CHECK_OK(export_report(w.f.a, &w.dir, "INC-1", 1795370000000ull, buf_out, &b, &res));
	CHECK(res.records == 2 && !strcmp(res.incident, "INC-1"));
	CHECK(res.first == w.created[I_METHANE] && res.last == w.created[I_CASUALTY]);
	CHECK(strstr(b.p, "INCIDENT REPORT INC-1, from the hospital archive\n"));
	CHECK(strstr(b.p, "Archive    7 items (0 erased), audit seq 7"));
	CHECK(strstr(b.p, "Victoria Station concourse"));
	CHECK(strstr(b.p, "T0042"));
	CHECK(strstr(b.p, "Royal Infirmary"));
	CHECK(!strstr(b.p, "T0099")); /* another incident */
	free(b.p);
	memset(&b, 0, sizeof(b));
	/* no incident named: the latest created (INC-2) */
	CHECK_OK(export_report(w.f.a, &w.dir, NULL, 1795370000000ull, buf_out, &b, &res));
	CHECK(!strcmp(res.incident, "INC-2") && strstr(b.p, "T0099"));
	free(b.p);
	memset(&b, 0, sizeof(b));
	CHECK_OK(export_report(w.f.a, &w.dir, "INC-9", 1795370000000ull, buf_out, &b, &res));
	CHECK(res.records == 0 && strstr(b.p, "No incident records of incident INC-9"));
	free(b.p);
	world_close(&w);
}

static int count_erased(void *ctx, const struct audit_entry *e)
{
	*(int *)ctx += e->event == AUDIT_ERASED;
	return 0;
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;

	CHECK(f);
	CHECK(!fseek(f, 0, SEEK_END) && (len = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET));
	CHECK(p = malloc((size_t)len));
	CHECK(fread(p, 1, (size_t)len, f) == (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

/* Compacts the archive's LMDB as `mdb_copy -c` does and returns the copy
 * (the archive is closed meanwhile: one process opens an env once). */
static uint8_t *compact(struct world *w, size_t *n)
{
	char *out = NULL, *file = NULL;
	MDB_env *env;
	uint8_t *p;

	archive_close(w->f.a);
	w->f.a = NULL;

	CHECK(asprintf(&out, "%s/compact", w->f.dir) > 0);
	CHECK(asprintf(&file, "%s/data.mdb", out) > 0);
	CHECK(!mkdir(out, 0700));
	CHECK(!mdb_env_create(&env));
	CHECK(!mdb_env_set_maxdbs(env, 4));
	CHECK(!mdb_env_open(env, w->f.arch_dir, MDB_RDONLY, 0600));
	CHECK(!mdb_env_copy2(env, out, MDB_CP_COMPACT));
	mdb_env_close(env);
	p = slurp(file, n);
	unlink(file);
	rmdir(out);
	free(out);
	free(file);
	fixture_reopen(&w->f);
	return p;
}

static void test_erase(void)
{
	static uint8_t content[ARCHIVE_CONTENT_MAX], enc[BUNDLE_ENC_MAX];
	struct gdpr_subject s;
	uint8_t(*ids)[BUNDLE_ID_BYTES] = NULL;
	struct fhir_opts o = {.now = 1795370000000ull};
	struct fhir_result res;
	struct archive_verify v;
	struct archive_item it;
	struct world w;
	struct buf b;
	struct jv *root;
	size_t n, erased, clen, elen, flen;
	uint8_t *file;
	int e = 0;

	world_open(&w, "fhir-erase");
	CHECK_OK(gdpr_subject_set(&s, GDPR_TAG, "T0042"));
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 3);
	/* the search below can find what it looks for: before erasure the
	 * compacted file holds every item's sealed bytes and signature */
	file = compact(&w, &flen);
	for (unsigned i = 0; i < N_ITEMS; i++)
		CHECK(memmem(file, flen, w.sealed_tail[i], 32) && !memmem(file, flen, w.sig[i], MU_SIG_BYTES));
	free(file);

	CHECK_OK(archive_begin(w.f.a));
	CHECK_RET(gdpr_erase(w.f.a, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, n, 1795370000000ull, &erased),
		  -EBUSY);
	archive_abort(w.f.a);
	CHECK_OK(gdpr_erase(w.f.a, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, n, 1795370000000ull, &erased));
	CHECK(erased == 3);
	/* again: nothing left to erase, nothing recorded */
	CHECK_OK(gdpr_erase(w.f.a, (const uint8_t(*)[BUNDLE_ID_BYTES])ids, n, 1795370000001ull, &erased));
	CHECK(erased == 0);
	free(ids);

	CHECK_OK(archive_get(w.f.a, w.ids[I_CASUALTY], &it, content, sizeof(content), &clen, enc, sizeof(enc),
			     &elen));
	CHECK(clen == 0 && elen == 0 && (it.flags & ARCHIVE_F_ERASED));
	CHECK(it.created == w.created[I_CASUALTY]); /* the stub keeps the metadata */
	CHECK_OK(gdpr_collect(w.f.a, &s, &ids, &n));
	CHECK(n == 0);

	/* the chain verifies and holds one 'erased' entry per item */
	CHECK_OK(archive_audit_verify(w.f.a, identity_sign_pk(w.f.node), &v));
	CHECK(v.entries == N_ITEMS + 3);
	CHECK_OK(archive_audit_scan(w.f.a, 0, count_erased, &e));
	CHECK(e == 3);

	/* exports leave erased items out */
	root = export(&w, &o, &res, &b);
	CHECK(res.communications == N_ITEMS - 3 && res.erased == 3);
	CHECK(!comm_of(root, w.ids[I_TEXT]) && comm_of(root, w.ids[I_NOTWORD]));
	CHECK(!strstr(b.p, "head injury") && !strstr(b.p, "wound"));
	jfree(root);
	free(b.p);
	memset(&b, 0, sizeof(b));
	CHECK_OK(export_report(w.f.a, &w.dir, "INC-1", 1795370000000ull, buf_out, &b, NULL));
	CHECK(!strstr(b.p, "T0042") && strstr(b.p, "Victoria Station"));
	free(b.p);

	/* after compaction no byte of the erased items' ciphertext or bundles
	 * is left in the file; the live items' are */
	file = compact(&w, &flen);
	for (unsigned i = 0; i < N_ITEMS; i++) {
		bool gone = i == I_TEXT || i == I_CASUALTY || i == I_ATTACH;

		CHECK(!memmem(file, flen, w.sealed_tail[i], 32) == gone);
		CHECK(!memmem(file, flen, w.sig[i], MU_SIG_BYTES));
	}
	CHECK(!memmem(file, flen, "head injury", 11)); /* plaintext never was there */
	free(file);
	world_close(&w);
}

/* ---- attachments: chunk items, data / url, streaming in steps ---- */

struct att {
	uint8_t manifest[BUNDLE_ID_BYTES];
	uint8_t chunk_ids[8][BUNDLE_ID_BYTES];
	uint32_t count;
	uint8_t *file;
	size_t size;
};

/* Archives a manifest for a random file of size bytes as item i and, of
 * its chunks, those with bit k set in which. */
static void put_attachment(struct world *w, unsigned i, size_t size, unsigned which, struct att *t)
{
	static uint8_t c[1 + ATTACH_MANIFEST_MAX], payload[ATTACH_CHUNK_PAYLOAD_MAX], enc[BUNDLE_ENC_MAX],
	    content[ARCHIVE_CONTENT_MAX];
	uint8_t hashes[8][ATTACH_HASH_BYTES];
	struct attach_manifest m = {.size = size, .chunk_bytes = ATTACH_CHUNK_BYTES};
	uint64_t created = 1795363411000ull + 60000ull * i;

	memset(t, 0, sizeof(*t));
	t->size = size;
	t->file = malloc(size);
	CHECK(t->file);
	randombytes_buf(t->file, size);
	m.count = t->count = attach_chunks_for(size);
	CHECK(m.count <= 8);
	randombytes_buf(m.id, sizeof(m.id));
	randombytes_buf(m.key, sizeof(m.key));
	strcpy(m.name, "scan.pdf");
	strcpy(m.mime, "application/pdf");
	m.hashes = &hashes[0][0];
	c[0] = CONTENT_ATTACHMENT;
	put(w, i, w->f.sender, PRIO_ROUTINE, DEST_ALL, 0, c,
	    1 + (size_t)CHECK_LEN(attach_manifest_encode(c + 1, sizeof(c) - 1, &m)));
	memcpy(t->manifest, w->ids[i], BUNDLE_ID_BYTES);
	for (uint32_t k = 0; k < m.count; k++) {
		size_t len = attach_chunk_len(&m, k);
		int plen = CHECK_LEN(attach_chunk_seal(payload, sizeof(payload), hashes[k], m.id, m.key, k, m.count,
						       t->file + (size_t)k * ATTACH_CHUNK_BYTES, len));
		struct bundle b = {.kind = BK_MESSAGE, .prio = PRIO_BULK, .hop_limit = 8, .dest_type = DEST_ALL,
				   .created = created - m.count + k, .expires = created + 3600000,
				   .payload = payload, .payload_len = (size_t)plen};
		int elen = CHECK_LEN(bundle_seal(enc, sizeof(enc), &b, w->f.sender));

		memcpy(t->chunk_ids[k], b.id, BUNDLE_ID_BYTES);
		if (!(which & 1u << k))
			continue;
		content[0] = ARCHIVE_CONTENT_CHUNK;
		memcpy(content + 1, t->manifest, BUNDLE_ID_BYTES);
		put_be64(content + 1 + BUNDLE_ID_BYTES, (uint64_t)k << 32 | m.count);
		memcpy(content + ARCHIVE_CHUNK_HDR, t->file + (size_t)k * ATTACH_CHUNK_BYTES, len);
		/* before (or without) its manifest: refused */
		content[1] ^= 1;
		CHECK_RET(archive_put_chunk(w->f.a, content + 1, k, enc, (size_t)elen, content,
					    ARCHIVE_CHUNK_HDR + len, 1),
			  MU_E_NOTFOUND);
		content[1] ^= 1;
		/* a header naming another index is refused */
		CHECK_RET(archive_put_chunk(w->f.a, t->manifest, k + 1, enc, (size_t)elen, content,
					    ARCHIVE_CHUNK_HDR + len, 1),
			  MU_E_FORMAT);
		CHECK_OK(archive_put_chunk(w->f.a, t->manifest, k, enc, (size_t)elen, content,
					   ARCHIVE_CHUNK_HDR + len, 1));
		/* exactly once, also under another id for the same place */
		CHECK_RET(archive_put_chunk(w->f.a, t->manifest, k, enc, (size_t)elen, content,
					    ARCHIVE_CHUNK_HDR + len, 1),
			  MU_E_EXISTS);
	}
}

static const struct jv *attachment_of(const struct jv *root, const uint8_t id[static BUNDLE_ID_BYTES])
{
	const struct jv *c = comm_of(root, id);

	CHECK(c);
	return jget(jget(c, "payload")->v[0], "contentAttachment");
}

static void test_attachments(void)
{
	struct fhir_opts o = {.now = 1795363999000ull};
	struct fhir_result res;
	struct world w;
	struct att small, big, part;
	struct buf b, steps = {0};
	struct fhir_stream *fs = NULL;
	struct jv *root;
	const struct jv *a;
	uint8_t *dec = malloc(FHIR_INLINE_MAX + 16), cid[BUNDLE_ID_BYTES];
	size_t dlen = 0;
	char hx[2 * BUNDLE_ID_BYTES + 1], url[128];
	int ret, nsteps = 0;

	CHECK(dec);
	world_open(&w, "fhir-attach");
	put_attachment(&w, 7, 100000, 0x7, &small);  /* 3 chunks, all archived */
	put_attachment(&w, 8, 300000, 0x7f, &big);   /* 7 chunks: over FHIR_INLINE_MAX */
	put_attachment(&w, 9, 100000, 0x5, &part);   /* chunk 1 missing */
	CHECK_OK(archive_chunk_id(w.f.a, small.manifest, 2, cid));
	CHECK(!memcmp(cid, small.chunk_ids[2], BUNDLE_ID_BYTES));
	CHECK_RET(archive_chunk_id(w.f.a, part.manifest, 1, cid), MU_E_NOTFOUND);

	root = export(&w, &o, &res, &b);
	CHECK(res.chunks == 3 + 7 + 2 && res.communications == N_ITEMS + 3);
	/* small and complete: the file itself, byte for byte */
	a = attachment_of(root, small.manifest);
	CHECK(jstr(a, "data") && !jget(a, "url"));
	CHECK_OK(sodium_base642bin(dec, FHIR_INLINE_MAX + 16, jstr(a, "data"), strlen(jstr(a, "data")), NULL,
				   &dlen, NULL, sodium_base64_VARIANT_ORIGINAL));
	CHECK(dlen == small.size && !memcmp(dec, small.file, dlen));
	CHECK(!jget(a, "hash")); /* R4 hash is SHA-1: not available (docs/exports.md) */
	/* big: by reference */
	a = attachment_of(root, big.manifest);
	hex_encode(hx, big.manifest, BUNDLE_ID_BYTES);
	snprintf(url, sizeof(url), "urn:muster:attachment:%s", hx);
	CHECK(!jget(a, "data") && !strcmp(jstr(a, "url"), url));
	/* incomplete: by reference, with a note */
	a = attachment_of(root, part.manifest);
	CHECK(!jget(a, "data") && jstr(a, "url"));
	CHECK(strstr(b.p, "attachment incomplete in the archive: 2 of 3 chunks"));
	jfree(root);

	/* In steps of a small budget the Bundle is the same bytes. */
	CHECK_OK(fhir_stream_new(&fs, w.f.a, &w.dir, &o, buf_out, &steps));
	while ((ret = fhir_stream_step(fs, 1, &res)) == 1)
		nsteps++;
	CHECK_OK(ret);
	fhir_stream_free(fs);
	/* budget 1: a step per resource (header, 10 Communications, the
	 * Practitioners), the large inline one never split across steps
	 * beyond its own size */
	CHECK(nsteps >= 1 + 10 + 2);
	CHECK(steps.n == b.n && !memcmp(steps.p, b.p, b.n));
	free(steps.p);
	free(b.p);

	/* Items archived after the stream began wait for the next export. */
	memset(&steps, 0, sizeof(steps));
	CHECK_OK(fhir_stream_new(&fs, w.f.a, &w.dir, &o, buf_out, &steps));
	CHECK(fhir_stream_step(fs, 1, &res) == 1);
	put_text(&w, 10, w.f.sender, CONTENT_TEXT, PRIO_ROUTINE, DEST_ALL, 0, "late");
	while ((ret = fhir_stream_step(fs, 1, &res)) == 1)
		;
	CHECK_OK(ret);
	fhir_stream_free(fs);
	CHECK(res.communications == N_ITEMS + 3 && !strstr(steps.p, "\"late\""));
	free(steps.p);

	/* An erased manifest takes no new chunk. */
	CHECK_OK(archive_erase(w.f.a, part.manifest, 2));
	{
		uint8_t content[ARCHIVE_CHUNK_HDR + 8] = {ARCHIVE_CONTENT_CHUNK};

		memcpy(content + 1, part.manifest, BUNDLE_ID_BYTES);
		put_be64(content + 1 + BUNDLE_ID_BYTES, (uint64_t)1 << 32 | 3);
		/* (the encoding is any decodable bundle: the link is refused first) */
		uint8_t enc[BUNDLE_ENC_MAX];
		size_t elen = fixture_bundle(&w.f, 99, enc, sizeof(enc), cid);

		CHECK_RET(archive_put_chunk(w.f.a, part.manifest, 1, enc, elen, content, sizeof(content), 3),
			  MU_E_EXISTS);
	}
	free(small.file);
	free(big.file);
	free(part.file);
	free(dec);
	world_close(&w);
}

static const struct test tests[] = {
    {"/export/validator/catches", test_validator_catches},
    {"/export/helpers", test_helpers},
    {"/export/fhir/bundle", test_bundle},
    {"/export/fhir/attachments", test_attachments},
    {"/export/report", test_report},
    {"/gdpr/subject", test_subject},
    {"/gdpr/erase", test_erase},
};

TEST_MAIN(tests)
