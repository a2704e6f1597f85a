/* Hex encoding for key ids, bundle ids and test vectors. */
#ifndef MU_HEX_H
#define MU_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*n lowercase hex digits and a NUL into out (size >= 2*n+1). */
void hex_encode(char *out, const uint8_t *in, size_t n);
/* Decodes exactly n bytes from a string of exactly 2*n hex digits;
 * MU_E_FORMAT otherwise. */
int hex_decode(uint8_t *out, size_t n, const char *in);

#endif
