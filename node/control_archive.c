/* The hospital role's glue to the archive (archive.h, docs/archive.md):
 * archiving each committed message the archive user can open, issuing
 * custody receipts on a timer, and the hospital's control commands
 * (archive, audit verify, export audit; export fhir, report and subject
 * and erase are in control_export.c).
 *
 * Archive writes of one loop turn share one archive batch, committed on the
 * next turn, after the store's batch: a crash in between loses nothing,
 * because hospital_open then archives whatever the store holds that the
 * archive lacks (only a clean close skips that walk: "clean-shutdown
 * checkpoint" below). Which items still need a custody receipt is the
 * archive's receipt cursor, so a restart issues what was pending. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "grow.h"
#include "../crypto/envelope.h"
#include "archive.h"
#include "archive_checkpoint.h"
#include "attach.h"
#include "clock.h"
#include "config.h"
#include "control_export.h"
#include "control_util.h"
#include "ctl.h"
#include "err.h"
#include "hex.h"
#include "incident.h"
#include "json.h"
#include "log.h"
#include "node_int.h"
#include "receipt.h"
#include "wire.h"

#define RECEIPT_INTERVAL_MS_DEFAULT 2000
#define RECEIPTS_PER_TICK           16 /* receipt bundles sealed per timer tick (16384 ids) */
#define RECEIPT_MIN_LIFE_MS         3600000ull
#define RECOVER_RETRY_MS            5000
#define PENDING_ATTACH_MAX          65536 /* attachments tracked for missing chunks */

/* An archived manifest some of whose chunks are not archived yet. Only
 * what finds it: the chunk key and hashes stay in the archive. */
struct pending_attach {
	uint8_t aid[ATTACH_ID_BYTES]; /* sort key, then sender */
	uint8_t sender[MU_KEY_BYTES];
	uint8_t manifest[BUNDLE_ID_BYTES];
	uint64_t expires; /* the manifest's: its chunks expire with it */
	uint32_t missing; /* chunks not archived yet */
};

struct hospital {
	struct archive *arch;
	struct loop_timer *commit_timer, *receipt_timer;
	uint64_t receipt_interval_ms;
	bool recover;   /* an archive batch was lost: compare with the store again */
	bool walk_next; /* the pending list may lack an attachment: no checkpoint at close */
	uint64_t archived, unreadable, failed, receipts_sent, receipts_again;
	uint64_t chunks_archived, chunks_refused;
	struct pending_attach *pend; /* sorted by aid, sender */
	size_t npend, cap_pend;
	uint8_t enc[BUNDLE_ENC_MAX];
	uint8_t content[BUNDLE_PAYLOAD_MAX];
	uint8_t cenc[BUNDLE_ENC_MAX];          /* a chunk bundle */
	uint8_t mcontent[BUNDLE_PAYLOAD_MAX];  /* a manifest's content */
	uint8_t ids[RECEIPT_IDS_MAX][BUNDLE_ID_BYTES];
	uint8_t payload[RECEIPT_ENC_MAX];
};

/* ---- archiving ---- */

static void commit_tick(void *user)
{
	struct node *n = user;
	int ret = archive_commit(n->hosp->arch);

	if (ret) {
		log_err(SUB_STORE, "archive commit failed: %s; retrying from the store", mu_strerror(ret));
		n->hosp->recover = true;
		loop_timer_arm(n->hosp->receipt_timer, RECOVER_RETRY_MS);
	}
}

/* Opens the archive batch of this turn (committed by commit_tick). */
static int batch(struct hospital *h)
{
	int ret;

	if (archive_in_batch(h->arch))
		return 0;
	ret = archive_begin(h->arch);
	if (ret) {
		log_err(SUB_STORE, "archive batch: %s", mu_strerror(ret));
		h->failed++;
		h->recover = true;
		return ret;
	}
	loop_timer_arm(h->commit_timer, 0);
	return 0;
}

static void put_failed(struct hospital *h, const uint8_t id[static BUNDLE_ID_BYTES], int ret)
{
	char hx[17];

	hex_encode(hx, id, 8);
	log_err(SUB_STORE, "cannot archive %s: %s", hx, mu_strerror(ret));
	h->failed++;
}

/* ---- attachments (docs/archive.md "Attachments") ----
 *
 * A chunk is archived once the archive holds its manifest: when the chunk
 * is committed (found by its attachment id among the pending manifests),
 * or when the manifest is archived (its chunks found in the store by the
 * time index: chunk i of a manifest created at T is created at
 * T - count + i, docs/protocol.md). Neither side rescans the store. The
 * pending list is memory only: a clean close saves it in the archive's
 * meta (checkpoint_save), any other start has recover() rebuild it from
 * the archive (manifests with chunks not linked) and the store. */

struct pend_key {
	const uint8_t *aid, *sender;
};

static int pend_cmp(const void *el, const void *key)
{
	const struct pending_attach *p = el;
	const struct pend_key *k = key;
	int c = memcmp(p->aid, k->aid, ATTACH_ID_BYTES);

	return c ? c : memcmp(p->sender, k->sender, MU_KEY_BYTES);
}

/* Index of (aid, sender), or where it would go (*found false). */
static size_t pend_find(struct hospital *h, const uint8_t aid[static ATTACH_ID_BYTES],
			const uint8_t sender[static MU_KEY_BYTES], bool *found)
{
	struct pend_key k = { aid, sender };

	return mu_sorted_find(h->pend, h->npend, sizeof(*h->pend), pend_cmp, &k, found);
}

static void pend_drop(struct hospital *h, size_t i)
{
	memmove(&h->pend[i], &h->pend[i + 1], (h->npend - i - 1) * sizeof(*h->pend));
	h->npend--;
}

static int pend_add(struct hospital *h, const struct pending_attach *p)
{
	bool found;
	size_t i = pend_find(h, p->aid, p->sender, &found);

	if (found)
		return 0;
	if (h->npend == PENDING_ATTACH_MAX) {
		log_warn(SUB_STORE, "%d attachments await chunks; more are archived at the next start",
			 PENDING_ATTACH_MAX);
		return MU_E_QUOTA;
	}
	if (h->npend == h->cap_pend) {
		size_t cap = h->cap_pend ? 2 * h->cap_pend : 16;
		void *q = realloc(h->pend, cap * sizeof(*h->pend));

		if (!q)
			return -ENOMEM;
		h->pend = q;
		h->cap_pend = cap;
	}
	memmove(&h->pend[i + 1], &h->pend[i], (h->npend - i) * sizeof(*h->pend));
	h->pend[i] = *p;
	h->npend++;
	return 0;
}

/* Loads archived manifest id into *m (hashes point into h->mcontent).
 * MU_E_NOTFOUND if it is not a live archived attachment manifest. */
static int manifest_get(struct hospital *h, const uint8_t id[static BUNDLE_ID_BYTES],
			struct archive_item *it, struct attach_manifest *m)
{
	size_t clen = 0;
	int ret = archive_get(h->arch, id, it, h->mcontent, sizeof(h->mcontent), &clen, NULL, 0, NULL);

	if (!ret && (it->flags & ARCHIVE_F_ERASED || !clen || h->mcontent[0] != CONTENT_ATTACHMENT))
		ret = MU_E_NOTFOUND;
	if (!ret && (attach_manifest_decode(m, h->mcontent + 1, clen - 1) || it->created < m->count))
		ret = MU_E_NOTFOUND;
	if (ret)
		sodium_memzero(h->mcontent, clen);
	return ret;
}

/* Archives chunk index of manifest (m) from the bundle in h->cenc (elen
 * bytes, decoded as *cb) if it is the chunk the manifest lists. Returns
 * 1 when archived now, 0 when it was already, MU_E_MISMATCH / MU_E_SIG
 * for a copy the manifest refuses, or an archive error. */
static int chunk_archive(struct node *n, const uint8_t manifest[static BUNDLE_ID_BYTES],
			 const struct attach_manifest *m, uint32_t index, const struct bundle *cb, size_t elen)
{
	struct hospital *h = n->hosp;
	size_t plen = 0;
	int ret = attach_chunk_open(h->content + ARCHIVE_CHUNK_HDR, sizeof(h->content) - ARCHIVE_CHUNK_HDR,
				    &plen, m, index, cb->payload, cb->payload_len);

	if (ret) {
		h->chunks_refused++;
		return ret;
	}
	h->content[0] = ARCHIVE_CONTENT_CHUNK;
	memcpy(h->content + 1, manifest, BUNDLE_ID_BYTES);
	put_be64(h->content + 1 + BUNDLE_ID_BYTES, (uint64_t)index << 32 | m->count);
	ret = batch(h);
	if (!ret)
		ret = archive_put_chunk(h->arch, manifest, index, h->cenc, elen, h->content,
					ARCHIVE_CHUNK_HDR + plen, mu_now_ms());
	sodium_memzero(h->content, ARCHIVE_CHUNK_HDR + plen);
	if (!ret) {
		h->archived++;
		h->chunks_archived++;
		ret = 1;
	} else if (ret == MU_E_EXISTS) {
		ret = 0;
	} else {
		put_failed(h, cb->id, ret);
	}
	return ret;
}

struct chunk_look {
	struct node *n;
	const uint8_t *manifest;
	const struct archive_item *mit;
	const struct attach_manifest *m;
	uint64_t at;
	uint32_t index;
	bool done;
};

static int chunk_look_one(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct chunk_look *c = ctx;
	struct hospital *h = c->n->hosp;
	uint8_t aid[ATTACH_ID_BYTES];
	uint32_t index, count;
	struct store_info info;
	struct bundle b;
	size_t len = 0;

	if (created != c->at)
		return 1;
	if (store_peek(c->n->store, id, &info) || info.kind != BK_MESSAGE)
		return 0;
	if (store_get(c->n->store, id, h->cenc, sizeof(h->cenc), &len, NULL) || bundle_decode(&b, h->cenc, len) ||
	    memcmp(b.sender, c->mit->sender, MU_KEY_BYTES) ||
	    attach_chunk_header(b.payload, b.payload_len, aid, &index, &count) ||
	    memcmp(aid, c->m->id, ATTACH_ID_BYTES) || index != c->index)
		return 0; /* another bundle at that time */
	if (chunk_archive(c->n, c->manifest, c->m, c->index, &b, len) < 0)
		return 0; /* a refused copy: a good one may follow */
	c->done = true;
	return 1;
}

/* Archives every chunk of manifest the store holds and the archive lacks,
 * and tracks the manifest while any is missing. */
static int attach_pull(struct node *n, const uint8_t manifest[static BUNDLE_ID_BYTES])
{
	struct hospital *h = n->hosp;
	struct pending_attach p = {0};
	struct attach_manifest m;
	struct archive_item it;
	uint8_t cid[BUNDLE_ID_BYTES];
	uint32_t missing = 0;
	int ret = manifest_get(h, manifest, &it, &m);

	if (ret)
		return ret == MU_E_NOTFOUND ? 0 : ret;
	for (uint32_t i = 0; i < m.count && !ret; i++) {
		struct chunk_look c = {.n = n, .manifest = manifest, .mit = &it, .m = &m, .index = i};

		ret = archive_chunk_id(h->arch, manifest, i, cid);
		if (ret != MU_E_NOTFOUND)
			continue;
		c.at = it.created - m.count + i;
		ret = store_scan_time(n->store, c.at, NULL, chunk_look_one, &c);
		if (ret > 0)
			ret = 0;
		if (!c.done)
			missing++;
	}
	if (!ret && missing) {
		memcpy(p.aid, m.id, ATTACH_ID_BYTES);
		memcpy(p.sender, it.sender, MU_KEY_BYTES);
		memcpy(p.manifest, manifest, BUNDLE_ID_BYTES);
		p.expires = it.expires;
		p.missing = missing;
		ret = pend_add(h, &p);
	}
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(h->mcontent, sizeof(h->mcontent));
	return ret;
}

/* A committed chunk (h->cenc, decoded as *b): archived if its manifest is
 * pending; the tracking ends with the last chunk. */
static void chunk_stored(struct node *n, const struct bundle *b, size_t elen,
			 const uint8_t aid[static ATTACH_ID_BYTES], uint32_t index)
{
	struct hospital *h = n->hosp;
	struct attach_manifest m;
	struct archive_item it;
	uint8_t manifest[BUNDLE_ID_BYTES];
	bool found;
	size_t i = pend_find(h, aid, b->sender, &found);

	if (!found)
		return; /* no manifest yet: attach_pull takes it from the store */
	memcpy(manifest, h->pend[i].manifest, BUNDLE_ID_BYTES);
	if (manifest_get(h, manifest, &it, &m)) {
		pend_drop(h, i); /* erased meanwhile */
		return;
	}
	/* Only the chunk at its place in time counts, as the sender's
	 * client finds it (control_attach.c). */
	if (index < m.count && b->created == it.created - m.count + index &&
	    chunk_archive(n, manifest, &m, index, b, elen) == 1)
		h->pend[i].missing--;
	if (!h->pend[i].missing) {
		pend_drop(h, i);
		log_info(SUB_STORE, "attachment archived: %" PRIu32 " chunks, %" PRIu64 " bytes", m.count,
			 m.size);
	}
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(h->mcontent, sizeof(h->mcontent));
}

/* Drops tracking of attachments whose chunks have all expired. */
static void pend_expire(struct hospital *h, uint64_t now)
{
	for (size_t i = h->npend; i-- > 0;)
		if (h->pend[i].expires <= now)
			pend_drop(h, i);
}

/* Archives one stored message if the archive user can open it, or one
 * attachment chunk if its manifest is archived. */
static void archive_one(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct hospital *h = n->hosp;
	uint8_t aid[ATTACH_ID_BYTES];
	uint32_t index, count;
	struct bundle b;
	size_t len = 0, clen = 0;
	bool manifest;
	int ret;

	if (store_get(n->store, id, h->enc, sizeof(h->enc), &len, NULL) || bundle_decode(&b, h->enc, len) ||
	    b.kind != BK_MESSAGE)
		return;
	if (!attach_chunk_header(b.payload, b.payload_len, aid, &index, &count)) {
		memcpy(h->cenc, h->enc, len);
		if (bundle_decode(&b, h->cenc, len) == 0)
			chunk_stored(n, &b, len, aid, index);
		return;
	}
	if (envelope_open(h->content, sizeof(h->content), &clen, b.payload, b.payload_len, n->user,
			  b.sender)) {
		h->unreadable++;
		return;
	}
	manifest = clen && h->content[0] == CONTENT_ATTACHMENT;
	ret = batch(h);
	if (!ret)
		ret = archive_put(h->arch, h->enc, len, h->content, clen, mu_now_ms());
	sodium_memzero(h->content, clen);
	if (ret == 0)
		h->archived++;
	else if (ret != MU_E_EXISTS)
		put_failed(h, id, ret);
	if ((ret == 0 || ret == MU_E_EXISTS) && manifest) {
		ret = attach_pull(n, b.id);
		if (ret) {
			h->walk_next = true; /* the full walk at the next start lists it */
			log_err(SUB_STORE, "attachment chunks not archived: %s", mu_strerror(ret));
		}
	}
}

void hospital_stored(struct node *n, const struct fresh *f)
{
	if (n->hosp && f->kind == BK_MESSAGE)
		archive_one(n, f->id);
}

static int recover_one(void *ctx, uint64_t created, const uint8_t id[static BUNDLE_ID_BYTES])
{
	struct node *n = ctx;
	struct store_info info;

	(void)created;
	if (store_peek(n->store, id, &info) || info.kind != BK_MESSAGE)
		return 0;
	if (archive_get(n->hosp->arch, id, NULL, NULL, 0, NULL, NULL, 0, NULL) != MU_E_NOTFOUND)
		return 0;
	archive_one(n, id);
	return 0;
}

struct manifests {
	struct node *n;
	uint8_t (*ids)[BUNDLE_ID_BYTES];
	size_t len, cap;
};

/* Lists archived manifests with a chunk not linked yet (read only: the
 * scan may not write). */
static int incomplete_one(void *ctx, const struct audit_entry *e)
{
	struct manifests *l = ctx;
	struct hospital *h = l->n->hosp;
	struct attach_manifest m;
	struct archive_item it;
	uint8_t cid[BUNDLE_ID_BYTES];
	bool complete = true;
	void *q;

	if (e->event != AUDIT_ARCHIVED || manifest_get(h, e->id, &it, &m))
		return 0;
	for (uint32_t k = 0; k < m.count && complete; k++)
		complete = !archive_chunk_id(h->arch, e->id, k, cid);
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(h->mcontent, sizeof(h->mcontent));
	if (complete)
		return 0;
	q = mu_grow(l->ids, &l->cap, l->len, sizeof(*l->ids), 16);
	if (!q)
		return -ENOMEM;
	l->ids = q;
	memcpy(l->ids[l->len++], e->id, BUNDLE_ID_BYTES);
	return 0;
}

/* Rebuilds the pending attachments from the archive and archives the
 * chunks the store holds for them. */
static int recover_attachments(struct node *n)
{
	struct manifests l = {.n = n};
	int ret = archive_audit_scan(n->hosp->arch, 0, incomplete_one, &l);

	for (size_t i = 0; !ret && i < l.len; i++)
		ret = attach_pull(n, l.ids[i]);
	free(l.ids);
	return ret;
}

/* Archives stored messages the archive lacks (a crash between the store's
 * commit and the archive's, or a failed archive commit), and the chunks of
 * archived attachments the store holds. */
static int recover(struct node *n)
{
	uint64_t before = n->hosp->archived;
	int ret;

	n->hosp->recover = false;
	node_commit(n);
	n->hosp->npend = 0; /* rebuilt from what is durable */
	ret = archive_commit(n->hosp->arch);
	if (!ret)
		ret = store_scan_time(n->store, 0, NULL, recover_one, n);
	if (!ret)
		ret = archive_commit(n->hosp->arch);
	if (!ret)
		ret = recover_attachments(n);
	if (!ret)
		ret = archive_commit(n->hosp->arch);
	loop_timer_disarm(n->hosp->commit_timer);
	if (ret) {
		log_err(SUB_STORE, "archive catch-up failed: %s", mu_strerror(ret));
		n->hosp->recover = true;
	} else if (n->hosp->archived > before) {
		log_info(SUB_STORE, "archived %" PRIu64 " stored messages the archive lacked",
			 n->hosp->archived - before);
	}
	return ret;
}

/* ---- custody receipts ---- */

/* Seals a custody receipt for ids (1..RECEIPT_IDS_MAX) and stores it
 * durably. The new bundle reaches field nodes through route(). */
static int receipt_seal(struct node *n, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t cnt, uint64_t expires)
{
	struct hospital *h = n->hosp;
	static uint8_t enc[BUNDLE_ENC_MAX];
	struct bundle b = {
	    .kind = BK_RECEIPT,
	    .prio = PRIO_ROUTINE,
	    .hop_limit = BUNDLE_HOPS_MAX,
	    .dest_type = DEST_ALL,
	};
	uint64_t now = mu_now_ms();
	int len, ret;

	len = receipt_encode(h->payload, sizeof(h->payload), RECEIPT_CUSTODY, ids, cnt);
	if (len < 0)
		return len;
	b.created = now;
	b.expires = expires > now + RECEIPT_MIN_LIFE_MS ? expires : now + RECEIPT_MIN_LIFE_MS;
	b.payload = h->payload;
	b.payload_len = (size_t)len;
	len = bundle_seal(enc, sizeof(enc), &b, n->user);
	if (len < 0)
		return len;
	ret = node_ingest(n, enc, (size_t)len, 0, NULL);
	return ret ? ret : node_commit(n);
}

/* Seals one custody receipt for up to RECEIPT_IDS_MAX pending items and
 * stores it durably; then moves the cursor. Returns 1 if one was issued,
 * 0 when nothing is pending, or an error. */
static int receipt_one(struct node *n)
{
	struct hospital *h = n->hosp;
	uint64_t upto = 0, expires = 0;
	size_t cnt = 0;
	int ret;

	ret = archive_receipt_pending(h->arch, h->ids, RECEIPT_IDS_MAX, &cnt, &upto, &expires);
	if (ret || !upto)
		return ret;
	if (!cnt) /* only entries about no item since the cursor */
		return archive_receipt_done(h->arch, upto, 0);
	ret = receipt_seal(n, (const uint8_t(*)[BUNDLE_ID_BYTES])h->ids, cnt, expires);
	/* Durable in the store before the cursor moves: a crash here issues
	 * these ids again in a new receipt, which field nodes take as well. */
	if (!ret)
		ret = archive_receipt_done(h->arch, upto, cnt);
	if (ret)
		return ret;
	h->receipts_sent++;
	log_debug(SUB_STORE, "custody receipt for %zu archived bundles", cnt);
	return 1;
}

int hospital_receipted(struct node *n, const uint8_t id[static BUNDLE_ID_BYTES], uint64_t cursor,
		       uint64_t *expires)
{
	struct archive_item it;

	if (!n->hosp || archive_get(n->hosp->arch, id, &it, NULL, 0, NULL, NULL, 0, NULL))
		return 0;
	if (it.seq > cursor)
		return 0;
	*expires = it.expires;
	return 1;
}

int hospital_receipt_cursor(struct node *n, uint64_t *cursor)
{
	struct archive_stat st;
	int ret;

	*cursor = 0;
	if (!n->hosp)
		return MU_E_NOTFOUND;
	ret = archive_stat(n->hosp->arch, &st);
	if (!ret)
		*cursor = st.receipt_cursor;
	return ret;
}

int hospital_receipt_again(struct node *n, const uint8_t (*ids)[BUNDLE_ID_BYTES], size_t cnt, uint64_t expires)
{
	int ret;

	if (!n->hosp || !cnt || cnt > RECEIPT_IDS_MAX)
		return MU_E_FORMAT;
	ret = receipt_seal(n, ids, cnt, expires);
	if (!ret) {
		n->hosp->receipts_again++;
		log_debug(SUB_STORE, "custody receipt again for %zu bundles a field node still holds", cnt);
	}
	return ret;
}

static void receipt_tick(void *user)
{
	struct node *n = user;
	struct hospital *h = n->hosp;
	int ret = 0, k;

	commit_tick(n);
	if (h->recover)
		recover(n);
	pend_expire(h, mu_now_ms());
	for (k = 0; k < RECEIPTS_PER_TICK; k++) {
		ret = receipt_one(n);
		if (ret <= 0)
			break;
	}
	if (ret < 0)
		log_err(SUB_STORE, "custody receipt not issued: %s", mu_strerror(ret));
	/* A backlog drains at once, turn by turn, not one tick per receipt. */
	loop_timer_arm(h->receipt_timer, k == RECEIPTS_PER_TICK ? 0
					 : h->recover           ? RECOVER_RETRY_MS
								: h->receipt_interval_ms);
}

/* ---- open / close ---- */

static char *keyfile_path(struct node *n)
{
	const char *v = config_str(n->cfg, "node", "keyfile", "");
	char *p = NULL;

	if (*v)
		return strdup(v);
	return asprintf(&p, "%s/node.kf", n->data_dir) < 0 ? NULL : p;
}

/* ---- clean-shutdown checkpoint (docs/archive.md "Start-up") ----
 *
 * The catch-up walk (recover) reads every stored bundle and every audit
 * entry: about a minute with millions of bundles. It is needed only when
 * the archive may lack something the store holds, and after a clean close
 * it cannot: the store commits each batch before the archive sees it
 * (node_commit calls hospital_stored only after store_write_commit), and
 * node_close makes its last store commit before hospital_close commits the
 * archive's last batch. So once that commit succeeds, every stored message
 * the archive user can open is archived, unless an archive write failed
 * (h->failed, h->walk_next) or a batch was lost (h->recover). Then
 * hospital_close writes the checkpoint, with the pending attachments,
 * which live in memory only. The next start takes it and deletes it,
 * durably, before the loop runs and any bundle can arrive: a crash at any
 * later point leaves no checkpoint, and the start after it walks.
 *
 * It also names the archive user (another one may open what this one
 * could not) and the store's data file as it was after its last commit
 * (device, inode, size, mtime in ns): a run between that wrote the store
 * without this archive (as a field node, or with no archive user), or a
 * store restored from a copy, makes the start walk.
 *
 * The value of CHECKPOINT_META is encoded and decoded by
 * node/archive_checkpoint.c (its bytes: archive_checkpoint.h), pending
 * attachments in h->pend order; here are only the decisions and the glue
 * to the archive meta entry and h->pend. */
#define CHECKPOINT_META "hospital.clean"
_Static_assert(ARCHIVE_CHECKPOINT_MAX <= ARCHIVE_META_BLOB_MAX, "checkpoint fits a meta value");
_Static_assert(ARCHIVE_CHECKPOINT_PEND_MAX <= PENDING_ATTACH_MAX,
	       "checkpoint cap within the pending cap");
_Static_assert(sizeof(struct archive_store_print) == 5 * sizeof(uint64_t),
	       "no padding: store prints are compared with memcmp");

/* The store's LMDB data file (node.c opens the store in data_dir/store). */
static int store_print_get(struct node *n, struct archive_store_print *sp)
{
	struct stat st;
	char *path = NULL;
	int ret = 0;

	if (asprintf(&path, "%s/store/data.mdb", n->data_dir) < 0)
		return -ENOMEM;
	if (stat(path, &st))
		ret = -errno;
	else
		*sp = (struct archive_store_print){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
						   (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
	free(path);
	return ret;
}

void hospital_store_opened(struct node *n)
{
	n->store_print_ok = store_print_get(n, &n->store_print_open) == 0;
}

/* At a clean close, after the archive's last commit succeeded. */
static void checkpoint_save(struct node *n)
{
	struct hospital *h = n->hosp;
	struct archive_checkpoint ck = {.npend = (uint32_t)h->npend};
	struct archive_checkpoint_attach *pend = NULL;
	size_t len = ARCHIVE_CHECKPOINT_BYTES(h->npend);
	const char *why = NULL;
	uint8_t *buf = NULL;
	int ret;

	if (h->recover)
		why = "an archive batch was lost";
	else if (h->failed || h->walk_next)
		why = "an archive write failed";
	else if (h->npend > ARCHIVE_CHECKPOINT_PEND_MAX)
		why = "too many attachments await chunks";
	if (why) {
		log_warn(SUB_STORE,
			 "archive: no clean-shutdown checkpoint (%s): the next start walks the store", why);
		return;
	}
	memcpy(ck.user, identity_sign_pk(n->user), MU_KEY_BYTES);
	ret = store_print_get(n, &ck.store);
	if (!ret && (!(buf = malloc(len)) || !(pend = calloc(h->npend + 1, sizeof(*pend)))))
		ret = -ENOMEM;
	if (!ret) {
		for (size_t i = 0; i < h->npend; i++) {
			memcpy(pend[i].aid, h->pend[i].aid, ATTACH_ID_BYTES);
			memcpy(pend[i].sender, h->pend[i].sender, MU_KEY_BYTES);
			memcpy(pend[i].manifest, h->pend[i].manifest, BUNDLE_ID_BYTES);
			pend[i].expires = h->pend[i].expires;
			pend[i].missing = h->pend[i].missing;
		}
		ret = archive_checkpoint_encode(buf, len, &ck, pend);
	}
	if (ret >= 0)
		ret = archive_meta_put_blob(h->arch, CHECKPOINT_META, buf, (size_t)ret);
	free(pend);
	free(buf);
	if (ret)
		log_err(SUB_STORE,
			"archive: clean-shutdown checkpoint not written (%s): the next start walks",
			mu_strerror(ret));
	else
		log_info(SUB_STORE,
			 "archive: clean-shutdown checkpoint written, %zu attachments await chunks",
			 h->npend);
}

/* Decodes a checkpoint into h->pend; MU_E_FORMAT or MU_E_VERSION if
 * damaged, MU_E_MISMATCH if it is not this archive user's or the store
 * changed since. */
static int checkpoint_decode(struct node *n, const uint8_t *buf, size_t len)
{
	struct hospital *h = n->hosp;
	/* Room for as many entries as len could hold, within the cap. */
	size_t cap = len / ARCHIVE_CHECKPOINT_ENTRY < ARCHIVE_CHECKPOINT_PEND_MAX
			     ? len / ARCHIVE_CHECKPOINT_ENTRY
			     : ARCHIVE_CHECKPOINT_PEND_MAX;
	struct archive_checkpoint_attach *pend = calloc(cap + 1, sizeof(*pend));
	struct archive_checkpoint ck;
	int ret;

	if (!pend)
		return -ENOMEM;
	ret = archive_checkpoint_decode(&ck, pend, cap, buf, len);
	/* Compared with the store as it was opened: since then this start may
	 * have written to it (receipt and alert notes), which changes its
	 * mtime but not what was archived before the stop. */
	if (!ret && (memcmp(ck.user, identity_sign_pk(n->user), MU_KEY_BYTES) || !n->store_print_ok ||
		     memcmp(&n->store_print_open, &ck.store, sizeof(ck.store))))
		ret = MU_E_MISMATCH;
	for (uint32_t i = 0; i < ck.npend && !ret; i++) {
		struct pending_attach p = {.expires = pend[i].expires, .missing = pend[i].missing};

		memcpy(p.aid, pend[i].aid, ATTACH_ID_BYTES);
		memcpy(p.sender, pend[i].sender, MU_KEY_BYTES);
		memcpy(p.manifest, pend[i].manifest, BUNDLE_ID_BYTES);
		ret = pend_add(h, &p);
	}
	free(pend);
	if (ret)
		h->npend = 0;
	return ret;
}

/* At start: 1 if a valid checkpoint was taken (h->pend loaded), 0 if the
 * store must be walked; either way no checkpoint is left behind. An error
 * if it could not be deleted: starting would let a later crash skip the
 * walk. */
static int checkpoint_take(struct node *n)
{
	struct hospital *h = n->hosp;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = archive_meta_get_blob(h->arch, CHECKPOINT_META, NULL, 0, &len), del;

	if (ret == MU_E_NOTFOUND)
		return 0;
	if (ret == MU_E_TOOBIG && !(buf = malloc(len)))
		ret = -ENOMEM;
	else if (ret == MU_E_TOOBIG)
		ret = archive_meta_get_blob(h->arch, CHECKPOINT_META, buf, len, &len);
	if (!ret)
		ret = checkpoint_decode(n, buf, len);
	free(buf);
	if (ret)
		log_warn(SUB_STORE, "archive: clean-shutdown checkpoint not used: %s",
			 ret == MU_E_MISMATCH ? "the store or the archive user changed since"
					      : mu_strerror(ret));
	del = archive_meta_del(h->arch, CHECKPOINT_META);
	if (del) {
		log_err(SUB_STORE, "archive: cannot delete the clean-shutdown checkpoint: %s",
			mu_strerror(del));
		h->npend = 0;
		return del;
	}
	return !ret;
}

int hospital_open(struct node *n)
{
	struct hospital *h = NULL;
	uint64_t interval, map;
	char *dir = NULL, *key = NULL, *kf = NULL;
	int ret;

	if (config_u64(n->cfg, "archive", "receipt_interval_ms", RECEIPT_INTERVAL_MS_DEFAULT, 100, 3600000,
		       &interval) ||
	    config_u64(n->cfg, "archive", "map_bytes", ARCHIVE_MAP_DEFAULT, 16ull << 20, 1ull << 42, &map))
		return MU_E_CONFIG;
	if (n->role != NODE_HOSPITAL)
		return 0;
	if (!n->user || n->user_cred.role != ROLE_HOSPITAL_ARCHIVE) {
		log_warn(SUB_MAIN,
			 "hospital node without an archive user: nothing will be archived. Set [user] "
			 "to an identity whose credential has role archive (muster-ca issue --role archive)");
		return 0;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->receipt_interval_ms = interval;
	kf = keyfile_path(n);
	if (!kf || asprintf(&dir, "%s/archive", n->data_dir) < 0 ||
	    asprintf(&key, "%s/archive.key", n->data_dir) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	ret = archive_open(&h->arch, dir, key, kf, n->id, map);
	if (ret) {
		log_err(SUB_STORE, "cannot open the archive in %s: %s", dir, mu_strerror(ret));
		goto out;
	}
	ret = loop_timer_new(n->loop, &h->commit_timer, commit_tick, n);
	if (!ret)
		ret = loop_timer_new(n->loop, &h->receipt_timer, receipt_tick, n);
	if (ret)
		goto out;
	n->hosp = h;
	ret = checkpoint_take(n);
	if (ret == 1) {
		ret = 0;
		log_info(SUB_STORE,
			 "archive: clean shutdown, no catch-up walk (%zu attachments await chunks)",
			 h->npend);
	} else if (!ret) {
		uint64_t t0 = loop_now_mono_ms();

		ret = recover(n);
		if (!ret)
			log_info(SUB_STORE,
				 "archive: catch-up walk after an unclean stop: %" PRIu64
				 " archived in %" PRIu64 " ms",
				 h->archived, loop_now_mono_ms() - t0);
	}
	if (ret)
		n->hosp = NULL;
	else
		loop_timer_arm(h->receipt_timer, 0); /* receipts pending from before a restart */
out:
	if (ret && h) {
		loop_timer_free(h->commit_timer);
		loop_timer_free(h->receipt_timer);
		archive_close(h->arch);
		free(h->pend);
		free(h);
	} else if (!ret) {
		log_info(SUB_MAIN, "hospital archive open in %s", dir);
	}
	free(dir);
	free(key);
	free(kf);
	return ret;
}

void hospital_close(struct node *n)
{
	struct hospital *h = n->hosp;

	if (!h)
		return;
	if (archive_commit(h->arch))
		log_err(SUB_STORE,
			"archive: the last batch was not committed (archived again at next start)");
	else
		checkpoint_save(n);
	loop_timer_free(h->commit_timer);
	loop_timer_free(h->receipt_timer);
	archive_close(h->arch);
	free(h->pend);
	free(h);
	n->hosp = NULL;
}

struct archive *hospital_archive(struct node *n)
{
	if (!n->hosp)
		return NULL;
	commit_tick(n);
	return n->hosp->arch;
}

/* ---- status ---- */

void hospital_status(struct node *n, struct ctl_reply *r, bool json)
{
	struct archive_stat st;
	char head[2 * AUDIT_HASH_BYTES + 1];

	if (!n->hosp || archive_stat(n->hosp->arch, &st))
		return;
	hex_encode(head, st.head, AUDIT_HASH_BYTES);
	if (json)
		ctl_reply_printf(r,
				 ",\"archive\":{\"items\":%" PRIu64 ",\"erased\":%" PRIu64
				 ",\"shredded\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"last_seq\":%" PRIu64
				 ",\"head\":\"%s\",\"receipts_pending\":%" PRIu64 ",\"receipted\":%" PRIu64
				 ",\"unreadable\":%" PRIu64 ",\"failed\":%" PRIu64 "}",
				 st.items, st.erased, st.shredded, st.bytes, st.last_seq, head,
				 st.items - st.receipted, st.receipted, n->hosp->unreadable, n->hosp->failed);
	else
		ctl_reply_printf(r,
				 "archive   %" PRIu64 " items, %" PRIu64 " bytes, audit seq %" PRIu64
				 ", %" PRIu64 " awaiting custody receipt, %" PRIu64 " unreadable\n",
				 st.items, st.bytes, st.last_seq, st.items - st.receipted,
				 n->hosp->unreadable);
}

/* ---- commands ---- */

static int need_archive(struct node *n, struct ctl_reply *r)
{
	if (n->hosp)
		return 0;
	if (n->role != NODE_HOSPITAL)
		ctl_reply_printf(
		    r, "this is a field node: only a hospital node ([node] role = hospital) keeps an "
		       "archive\n");
	else
		ctl_reply_printf(
		    r, "this hospital node has no archive: its [user] must hold a credential with role "
		       "archive\n");
	return MU_E_NOTFOUND;
}

static int ctl_archive_status(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	struct archive_stat st;
	char head[2 * AUDIT_HASH_BYTES + 1];
	int ret;

	commit_tick(n);
	ret = archive_stat(n->hosp->arch, &st);
	if (ret)
		return ret;
	hex_encode(head, st.head, AUDIT_HASH_BYTES);
	if (req->flags & CTL_F_JSON) {
		ctl_reply_printf(r,
				 "{\"items\":%" PRIu64 ",\"erased\":%" PRIu64 ",\"shredded\":%" PRIu64
				 ",\"bytes\":%" PRIu64
				 ",\"last_seq\":%" PRIu64 ",\"head\":\"%s\",\"receipts_pending\":%" PRIu64
				 ",\"receipted\":%" PRIu64 ",\"receipt_bundles\":%" PRIu64
				 ",\"unreadable\":%" PRIu64 ",\"failed\":%" PRIu64
				 ",\"attachment_chunks\":%" PRIu64 ",\"chunks_refused\":%" PRIu64
				 ",\"attachments_pending\":%zu}\n",
				 st.items, st.erased, st.shredded, st.bytes, st.last_seq, head,
				 st.items - st.receipted, st.receipted, n->hosp->receipts_sent, n->hosp->unreadable, n->hosp->failed,
				 n->hosp->chunks_archived, n->hosp->chunks_refused, n->hosp->npend);
		return 0;
	}
	ctl_reply_printf(r,
			 "items       %" PRIu64 " archived (%" PRIu64 " erased: %" PRIu64
			 " crypto-shredded, %" PRIu64 " deleted only), %" PRIu64 " bytes\n",
			 st.items, st.erased, st.shredded, st.erased - st.shredded, st.bytes);
	ctl_reply_printf(r, "audit       last seq %" PRIu64 ", head %s\n", st.last_seq, head);
	ctl_reply_printf(r,
			 "receipts    %" PRIu64 " items awaiting a custody receipt, %" PRIu64
			 " receipted (%" PRIu64 " receipt bundles since start)\n",
			 st.items - st.receipted, st.receipted, n->hosp->receipts_sent);
	ctl_reply_printf(r,
			 "unreadable  %" PRIu64 " messages seen since start that the archive cannot open\n",
			 n->hosp->unreadable);
	if (n->hosp->failed)
		ctl_reply_printf(r, "failed      %" PRIu64 " archive writes failed (see the log)\n",
				 n->hosp->failed);
	return 0;
}

static int ctl_audit_verify(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	struct archive_verify res;
	char head[2 * AUDIT_HASH_BYTES + 1];
	bool json = req->flags & CTL_F_JSON;
	int ret;

	commit_tick(n);
	ret = archive_audit_verify(n->hosp->arch, identity_sign_pk(n->id), &res);
	if (ret == MU_E_SIG || ret == MU_E_MISMATCH) {
		if (json)
			ctl_reply_printf(r,
					 "{\"ok\":false,\"bad_seq\":%" PRIu64
					 ",\"why\":\"%s\",\"good_entries\":%" PRIu64 "}\n",
					 res.bad_seq, res.why, res.entries);
		else
			ctl_reply_printf(
			    r, "FAILED at seq %" PRIu64 ": %s (%" PRIu64 " entries before it verify)\n",
			    res.bad_seq, res.why, res.entries);
		log_warn(SUB_STORE, "audit chain verification FAILED at seq %" PRIu64 ": %s", res.bad_seq,
			 res.why);
		return ret;
	}
	if (ret) {
		ctl_reply_printf(r, "cannot verify: %s\n", mu_strerror(ret));
		return ret;
	}
	hex_encode(head, res.head, AUDIT_HASH_BYTES);
	if (json)
		ctl_reply_printf(r, "{\"ok\":true,\"entries\":%" PRIu64 ",\"head\":\"%s\"}\n", res.entries,
				 head);
	else
		ctl_reply_printf(r, "OK: %" PRIu64 " entries, head %s\n", res.entries, head);
	/* The check itself is on the record; its digest is the head it saw. */
	if (res.entries && archive_audit_note(n->hosp->arch, AUDIT_VERIFIED, res.head, mu_now_ms(), NULL))
		log_warn(SUB_STORE, "could not record the verification in the audit log");
	return 0;
}

/* export audit streams (ctl_reply_stream): each step writes the lines of
 * about EXPORT_STEP_BYTES, from the entry after the last one written up to
 * the head when the export was asked for; the last step records the
 * export. */
struct export_walk {
	struct node *n;
	struct ctl_reply *r; /* of the step running */
	crypto_generichash_state hash;
	uint64_t lines, since, after, upto;
	size_t step_bytes;
	bool done;
	char *line;
	size_t cap;
};

#define WALK_PAUSE 1

/* ISO-8601 UTC with milliseconds. */
static void iso_time(char out[static 48], uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static void jhex(char *out, const uint8_t *p, size_t n)
{
	out[0] = '"';
	hex_encode(out + 1, p, n);
	strcat(out, "\"");
}

static int export_line(void *ctx, const struct audit_entry *e)
{
	struct export_walk *w = ctx;
	static const uint8_t zero[BUNDLE_ID_BYTES];
	struct archive_item it;
	bool have_it = false;
	struct cred c;
	char t[48], id[67] = "null", sender[67] = "null", dg[67], prev[67], hash[67], sig[131];
	char *name = NULL, *role = NULL, *reg = NULL, *org = NULL;
	uint8_t h[AUDIT_HASH_BYTES];
	int len;

	if (e->seq > w->upto || w->step_bytes >= EXPORT_STEP_BYTES)
		return WALK_PAUSE;
	iso_time(t, e->time);
	jhex(dg, e->digest, AUDIT_HASH_BYTES);
	jhex(prev, e->prev, AUDIT_HASH_BYTES);
	audit_entry_hash(h, e);
	jhex(hash, h, AUDIT_HASH_BYTES);
	jhex(sig, e->sig, MU_SIG_BYTES);
	if (memcmp(e->id, zero, BUNDLE_ID_BYTES)) {
		jhex(id, e->id, BUNDLE_ID_BYTES);
		have_it = !archive_get(w->n->hosp->arch, e->id, &it, NULL, 0, NULL, NULL, 0, NULL);
		if (have_it) {
			jhex(sender, it.sender, MU_KEY_BYTES);
			if (!store_cred_lookup(w->n->store, it.sender, &c)) {
				name = json_quote(c.name);
				role = json_quote(role_name(c.role) ? role_name(c.role) : "");
				reg = json_quote(c.reg);
				org = json_quote(c.org);
			}
		}
	}
	len = asprintf(&w->line,
		       "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"time_ms\":%" PRIu64
		       ",\"event\":\"%s\",\"bundle\":%s,"
		       "\"sender\":%s,\"sender_name\":%s,\"sender_role\":%s,\"sender_registration\":%s,"
		       "\"sender_org\":%s,%s\"digest\":%s,\"prev\":%s,\"hash\":%s,\"signature\":%s}\n",
		       e->seq, t, e->time, audit_event_name(e->event), id, sender, name ? name : "null",
		       role ? role : "null", reg ? reg : "null", org ? org : "null",
		       /* an item is erased once: its stub is the one this entry's digest covers */
		       e->event != AUDIT_ERASED || !have_it ? ""
		       : it.flags & ARCHIVE_F_SHREDDED     ? "\"shredded\":true,"
							   : "\"shredded\":false,",
		       dg, prev, hash, sig);
	free(name);
	free(role);
	free(reg);
	free(org);
	if (len < 0) {
		w->line = NULL;
		return -ENOMEM;
	}
	crypto_generichash_update(&w->hash, (const uint8_t *)w->line, (size_t)len);
	ctl_reply_write(w->r, w->line, (size_t)len);
	free(w->line);
	w->line = NULL;
	w->lines++;
	w->after = e->seq;
	w->step_bytes += (size_t)len;
	return 0;
}

static void export_walk_free(void *state)
{
	struct export_walk *w = state;

	if (w && !w->done)
		log_info(SUB_CTL, "audit export abandoned by the client after %" PRIu64 " lines: not recorded",
			 w->lines);
	free(w);
}

static int export_step(void *state, struct ctl_reply *r)
{
	struct export_walk *w = state;
	uint8_t digest[AUDIT_HASH_BYTES];
	int ret;

	w->r = r;
	w->step_bytes = 0;
	ret = archive_audit_scan(w->n->hosp->arch, w->after, export_line, w);
	if (ret == WALK_PAUSE && w->after < w->upto)
		return CTL_STREAM_MORE;
	if (ret && ret != WALK_PAUSE) {
		log_err(SUB_STORE, "audit export stopped: %s", mu_strerror(ret));
		return ret;
	}
	crypto_generichash_final(&w->hash, digest, AUDIT_HASH_BYTES);
	w->done = true;
	/* The export is itself on the record: what was handed out (its
	 * digest), and when. */
	ret = archive_audit_note(w->n->hosp->arch, AUDIT_EXPORTED, digest, mu_now_ms(), NULL);
	if (ret)
		log_err(SUB_STORE, "audit export not recorded in the audit log: %s", mu_strerror(ret));
	log_info(SUB_CTL, "audit log exported: %" PRIu64 " entries after seq %" PRIu64, w->lines, w->since);
	return ret;
}

static int ctl_export_audit(struct node *n, const struct ctl_req *req, struct ctl_reply *r)
{
	const char *since = control_arg_value(req, "--since");
	struct export_walk *w;
	uint64_t after = 0;
	char *end = NULL;

	if (since) {
		errno = 0;
		after = strtoull(since, &end, 10);
		if (errno || !*since || *end) {
			ctl_reply_printf(r, "--since wants an audit sequence number\n");
			return MU_E_FORMAT;
		}
	}
	commit_tick(n);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->n = n;
	w->since = w->after = after;
	{
		struct archive_stat st;
		int ret = archive_stat(n->hosp->arch, &st);

		if (ret) {
			free(w);
			return ret;
		}
		w->upto = st.last_seq; /* entries up to the head when asked */
	}
	crypto_generichash_init(&w->hash, NULL, 0, AUDIT_HASH_BYTES);
	ctl_reply_stream(r, export_step, export_walk_free, w);
	return CTL_DEFER;
}

int control_archive(struct node *n, const struct ctl_req *req, struct ctl_reply *r, int *ret)
{
	const char *cmd = req->argc ? req->argv[0] : "";
	const char *sub = req->argc > 1 ? req->argv[1] : "";

	if (strcmp(cmd, "archive") && strcmp(cmd, "audit") && strcmp(cmd, "export") && strcmp(cmd, "erase"))
		return 0;
	*ret = need_archive(n, r);
	if (*ret)
		return 1;
	if (control_export(n, req, r, ret)) /* export fhir|report|subject, erase */
		return 1;
	if (!strcmp(cmd, "archive"))
		*ret = ctl_archive_status(n, req, r);
	else if (!strcmp(cmd, "audit") && !strcmp(sub, "verify"))
		*ret = ctl_audit_verify(n, req, r);
	else if (!strcmp(cmd, "export") && !strcmp(sub, "audit"))
		*ret = ctl_export_audit(n, req, r);
	else if (!strcmp(cmd, "export")) {
		ctl_reply_printf(r, "usage: muster export audit|fhir|report|subject ...\n");
		*ret = MU_E_FORMAT;
	} else {
		ctl_reply_printf(r, "usage: muster audit verify\n");
		*ret = MU_E_FORMAT;
	}
	return 1;
}
