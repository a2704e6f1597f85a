#include "nhsnum.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool nhs_number_valid(const char digits[static 10])
{
	unsigned sum = 0, check;

	for (int i = 0; i < 10; i++)
		if (!is_digit(digits[i]))
			return false;
	for (int i = 0; i < 9; i++)
		sum += (unsigned)(digits[i] - '0') * (unsigned)(10 - i);
	check = 11 - sum % 11;
	if (check == 11)
		check = 0;
	return check != 10 && check == (unsigned)(digits[9] - '0');
}

/* Reads 10 digits starting at text[i], allowing the 3-3-4 grouping with one
 * space or hyphen (the same one) at both group boundaries. */
static bool read_number(const char *text, size_t len, size_t i, char out[static 10], size_t *span)
{
	size_t j = i;
	int n = 0;
	char sep = 0;

	while (j < len && n < 10) {
		if (is_digit(text[j])) {
			out[n++] = text[j++];
			continue;
		}
		if ((n == 3 || n == 6) && (text[j] == ' ' || text[j] == '-') && j + 1 < len && is_digit(text[j + 1])) {
			if (n == 3)
				sep = text[j];
			else if (sep != text[j])
				return false;
			j++;
			continue;
		}
		break;
	}
	if (n != 10 || (sep && j - i != 12))
		return false;
	if (j < len && is_digit(text[j]))
		return false; /* part of a longer number */
	*span = j - i;
	return true;
}

bool nhs_number_find(const char *text, size_t len, size_t *at, size_t *span)
{
	char d[10];

	for (size_t i = 0; i < len; i++) {
		if (!is_digit(text[i]) || (i > 0 && is_digit(text[i - 1])))
			continue;
		if (read_number(text, len, i, d, span) && nhs_number_valid(d)) {
			*at = i;
			return true;
		}
	}
	return false;
}
