#include <maxminddb.h>

/* MMDB_get_value is variadic, which Swift cannot call: this looks up `container`/"iso_code"
 * (e.g. "country", "registered_country") through MMDB_aget_value, the array-path variant. */
static inline int cmaxminddb_iso_code(MMDB_entry_s *entry, MMDB_entry_data_s *data,
                                      const char *container) {
    const char *const path[] = {container, "iso_code", NULL};
    return MMDB_aget_value(entry, data, path);
}
