/* Patient-identifier minimisation: finds NHS numbers in message text so the
 * sender can be warned (or stopped) and pointed to the casualty tag instead.
 *
 * An NHS number is 10 digits whose last is a modulus-11 check digit over the
 * first nine (weights 10..2; 11 - sum mod 11, where 11 means 0 and 10 means
 * the number is not valid). Written plain ("9434765919") or grouped 3-3-4
 * with single spaces or hyphens ("943 476 5919", "943-476-5919"). Digits
 * directly before or after the run mean it is part of a longer number and is
 * not reported. Only numbers with a valid check digit are reported, so
 * phone numbers and grid references rarely trip it. */
#ifndef MU_NHSNUM_H
#define MU_NHSNUM_H

#include <stdbool.h>
#include <stddef.h>

/* True if the 10 digits (ASCII) form a valid NHS number. */
bool nhs_number_valid(const char digits[static 10]);
/* Finds the first valid NHS number in text[0..len). Returns true and sets
 * *at and *span (bytes, separators included) if there is one. */
bool nhs_number_find(const char *text, size_t len, size_t *at, size_t *span);

#endif
