/* Decodes a bundle, credential or identity file and prints it as text or
 * JSON. Used by `muster inspect`. Returns 0 or the decoder's error. */
#ifndef MU_INSPECT_H
#define MU_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int inspect_print(FILE *f, const uint8_t *data, size_t len, int json);

#endif
