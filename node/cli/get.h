/* `muster get`: fetches an attachment from the daemon (node/attach.h) chunk
 * by chunk, each verified there against the signed manifest, and writes
 * it here, as the user running the CLI (so the file is theirs and the
 * daemon never writes into user paths). */
#ifndef MU_CLI_GET_H
#define MU_CLI_GET_H

/* argv[0] is "get". sock_default: the socket when neither --socket nor
 * $MUSTER_SOCKET names one. Returns the process exit code: 0 done, 1
 * failure (explained on stderr; a partial output file is removed), 2 usage,
 * 3 incomplete (chunks still missing, or held only as refused copies). */
int cli_get(int argc, char **argv, const char *sock_default);

#endif
