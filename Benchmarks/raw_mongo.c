/* Baselines straight through libmongoc, no Redis, no worker, no Swift:
 *   raw_mongo insert URI N BATCH   bulk-inserts N page-view documents shaped like the
 *                                  worker's, unordered, BATCH per bulk; prints seconds.
 */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[1], "insert") != 0) {
    fprintf(stderr, "usage: raw_mongo insert URI N BATCH\n");
    return 2;
  }
  long n = atol(argv[3]), batch = atol(argv[4]);
  mongoc_init();
  bson_error_t error;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[2], &error);
  if (!uri) { fprintf(stderr, "%s\n", error.message); return 1; }
  mongoc_client_t *client = mongoc_client_new_from_uri(uri);
  const char *db = mongoc_uri_get_database(uri);
  mongoc_collection_t *collection = mongoc_client_get_collection(client, db ? db : "events", "events");
  /* The same indexes the worker's collection has, so both pay the same index upkeep. */
  bson_t *create = BCON_NEW("createIndexes", BCON_UTF8("events"), "indexes", "[",
      "{", "key", "{", "site_id", BCON_INT32(1), "timestamp", BCON_INT32(1), "}", "name", BCON_UTF8("site_id_1_timestamp_1"), "}",
      "{", "key", "{", "site_id", BCON_INT32(1), "event_type", BCON_INT32(1), "timestamp", BCON_INT32(1), "}",
      "name", BCON_UTF8("site_id_1_event_type_1_timestamp_1"), "}", "]");
  if (!mongoc_client_command_simple(client, db ? db : "events", create, NULL, NULL, &error)) {
    fprintf(stderr, "createIndexes: %s\n", error.message);
    return 1;
  }
  bson_destroy(create);
  double start = now();
  for (long done = 0; done < n; done += batch) {
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(collection, &opts);
    for (long i = done; i < done + batch && i < n; i++) {
      char id[64], path[32], user[32];
      snprintf(id, sizeof id, "raw-%ld", i);
      snprintf(path, sizeof path, "/p%ld", i % 50);
      snprintf(user, sizeof user, "user-%ld", i % 10000);
      bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "site_id", BCON_UTF8("bench"), "event_type", BCON_UTF8("page_view"),
                             "path", BCON_UTF8(path), "userid", BCON_UTF8(user), "timestamp", BCON_DATE_TIME(1763916271123),
                             "createdAt", BCON_DATE_TIME(1763916271123), "count", BCON_INT32(1));
      mongoc_bulk_operation_insert_with_opts(bulk, doc, NULL, &error);
      bson_destroy(doc);
    }
    bson_t reply;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &error)) { fprintf(stderr, "bulk: %s\n", error.message); return 1; }
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&opts);
  }
  printf("%.3f\n", now() - start);
  mongoc_collection_destroy(collection);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  mongoc_cleanup();
  return 0;
}
