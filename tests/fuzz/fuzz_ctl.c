/* Fuzzes both control-protocol decoders with every input: a request frame
 * (ctl_request_decode) and a response record (ctl_response_decode). What
 * decodes must respect the caps and re-encode to exactly the input bytes,
 * so the decoder accepts nothing the encoder could not have produced.
 * Seeds in corpus/fuzz_ctl/: req-* are requests, rsp-* are records. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const uint8_t *data, size_t size)
{
	static struct ctl_req *req;
	static uint8_t *buf;
	struct wr wr;
	int ret;

	if (!req) {
		req = malloc(sizeof(*req));
		buf = malloc(4 + CTL_REQ_MAX);
		if (!req || !buf)
			abort();
	}
	ret = ctl_request_decode(req, data, size);
	if (ret) {
		if (ret != MU_E_FORMAT && ret != MU_E_TOOBIG && ret != MU_E_VERSION)
			abort();
		return;
	}
	if (req->version != CTL_VERSION || (req->flags & ~CTL_F_ALL) || req->argc < 0 ||
	    req->argc > CTL_ARGS_MAX || req->argv[req->argc])
		abort();
	for (int i = 0; i < req->argc; i++)
		if (strlen(req->argv[i]) > CTL_ARG_MAX)
			abort();
	wr = wr_make(buf, 4 + CTL_REQ_MAX);
	if (ctl_request_encode(&wr, req->flags, req->argc, req->argv) || wr.len != size ||
	    memcmp(buf, data, size))
		abort();
}

static void check_response(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	const uint8_t *body;
	size_t blen;
	int status, more, ret;
	struct wr wr;

	if (!buf) {
		buf = malloc(4 + CTL_RECORD_MAX);
		if (!buf)
			abort();
	}
	ret = ctl_response_decode(data, size, &status, &more, &body, &blen);
	if (ret) {
		if (ret != MU_E_FORMAT && ret != MU_E_TOOBIG)
			abort();
		return;
	}
	if (status > 0 || (more != 0 && more != 1) || (more && status) || blen > CTL_BODY_MAX ||
	    body < data || body + blen != data + size)
		abort();
	wr = wr_make(buf, 4 + CTL_RECORD_MAX);
	if (ctl_response_encode(&wr, status, more, body, blen) || wr.len != size || memcmp(buf, data, size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_response(data, size);
	return 0;
}
