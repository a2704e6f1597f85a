/* The driver name table. A new driver (wifi, bluetooth) adds its ops here and
 * a declaration in link.h; nothing else in the core changes. */
#include "link.h"

#include <string.h>

const struct link_ops *const link_drivers[] = {
    &link_tcp_ops,
    &link_wifi_ops,
    &link_bluetooth_ops,
    NULL,
};

const struct link_ops *link_ops_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; link_drivers[i]; i++)
		if (!strcmp(link_drivers[i]->name, name))
			return link_drivers[i];
	return NULL;
}
