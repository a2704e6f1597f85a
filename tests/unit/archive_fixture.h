/* Shared by test_archive and test_audit: a fresh archive in a temporary
 * directory, and message bundles to put in it. */
#ifndef MU_ARCHIVE_FIXTURE_H
#define MU_ARCHIVE_FIXTURE_H

#include "archive.h"

struct fixture {
	char *dir, *arch_dir, *key_path, *keyfile;
	struct mu_identity *node, *sender;
	struct archive *a;
};

void fixture_open(struct fixture *f, const char *tag);
/* Closes and opens the archive again with the same keys. */
void fixture_reopen(struct fixture *f);
void fixture_close(struct fixture *f);

/* A signed message bundle numbered i (distinct ids) into enc; returns its
 * length and its id in id. */
size_t fixture_bundle(struct fixture *f, unsigned i, uint8_t *enc, size_t cap,
		      uint8_t id[static BUNDLE_ID_BYTES]);
/* Puts message i with content "content i" (its own transaction). */
void fixture_put(struct fixture *f, unsigned i, uint8_t id[static BUNDLE_ID_BYTES]);

#endif
