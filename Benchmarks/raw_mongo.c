/* Baselines straight through libmongoc, no Redis, no worker, no Swift:
 *   raw_mongo insert URI N BATCH        bulk-inserts N page-view documents shaped like the
 *                                       worker's, unordered, BATCH per bulk; prints seconds.
 *   raw_mongo load URI N START_MS DAYS  stores N page views of site "stats" (50 paths,
 *                                       10k users) spread over DAYS days from START_MS.
 *   raw_mongo aggregate URI FILE RUNS   runs the aggregation pipeline in FILE (extended JSON)
 *                                       RUNS times; prints each run's milliseconds.
 *   raw_mongo drop URI - -              drops the URI's database.
 *   raw_mongo ids URI SITE -            prints "event_id count" of every stored event of SITE (scripts/chaos).
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

static mongoc_collection_t *collection;
static mongoc_client_t *client;

/* The same indexes the worker's collection has, so both pay the same index upkeep. */
static int create_indexes(const char *db) {
  bson_error_t error;
  bson_t *create = BCON_NEW("createIndexes", BCON_UTF8("events"), "indexes", "[",
      "{", "key", "{", "site_id", BCON_INT32(1), "timestamp", BCON_INT32(1), "}", "name", BCON_UTF8("site_id_1_timestamp_1"), "}",
      "{", "key", "{", "site_id", BCON_INT32(1), "event_type", BCON_INT32(1), "timestamp", BCON_INT32(1), "}",
      "name", BCON_UTF8("site_id_1_event_type_1_timestamp_1"), "}", "]");
  int ok = mongoc_client_command_simple(client, db, create, NULL, NULL, &error);
  if (!ok) fprintf(stderr, "createIndexes: %s\n", error.message);
  bson_destroy(create);
  return ok;
}

/* Inserts documents [0, n) made by `make`, unordered, `batch` per bulk. */
static int insert(long n, long batch, bson_t *(*make)(long, void *), void *context) {
  bson_error_t error;
  for (long done = 0; done < n; done += batch) {
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(collection, &opts);
    for (long i = done; i < done + batch && i < n; i++) {
      bson_t *doc = make(i, context);
      mongoc_bulk_operation_insert_with_opts(bulk, doc, NULL, &error);
      bson_destroy(doc);
    }
    bson_t reply;
    int ok = mongoc_bulk_operation_execute(bulk, &reply, &error);
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&opts);
    if (!ok) { fprintf(stderr, "bulk: %s\n", error.message); return 0; }
  }
  return 1;
}

/* A page view like the worker stores, for the drain baseline. */
static bson_t *drain_document(long i, void *context) {
  (void)context;
  char id[64], doc_id[80], path[32], user[32];
  snprintf(id, sizeof id, "raw-%ld", i);
  snprintf(doc_id, sizeof doc_id, "bench/%s", id); /* _id = site_id "/" event_id, as the worker stores it */
  snprintf(path, sizeof path, "/p%ld", i % 50);
  snprintf(user, sizeof user, "user-%ld", i % 10000);
  return BCON_NEW("_id", BCON_UTF8(doc_id), "event_id", BCON_UTF8(id), "site_id", BCON_UTF8("bench"), "event_type", BCON_UTF8("page_view"),
                  "path", BCON_UTF8(path), "userid", BCON_UTF8(user), "timestamp", BCON_DATE_TIME(1763916271123),
                  "createdAt", BCON_DATE_TIME(1763916271123), "count", BCON_INT32(1));
}

/* Where and over how long the stats data set is spread. */
struct spread { int64_t start_ms, span_ms; uint64_t state; };

/* xorshift64: the same data set on every run. */
static uint64_t next_random(uint64_t *state) {
  *state ^= *state << 13; *state ^= *state >> 7; *state ^= *state << 17;
  return *state;
}

/* A page view of site "stats": one of 50 paths, one of 10k users, anywhere in the span. */
static bson_t *stats_document(long i, void *context) {
  struct spread *s = context;
  char id[64], doc_id[80], path[32], user[32];
  snprintf(id, sizeof id, "stats-%ld", i);
  snprintf(doc_id, sizeof doc_id, "stats/%s", id);
  snprintf(path, sizeof path, "/page/%llu", (unsigned long long)(next_random(&s->state) % 50));
  snprintf(user, sizeof user, "user-%llu", (unsigned long long)(next_random(&s->state) % 10000));
  int64_t ts = s->start_ms + (int64_t)(next_random(&s->state) % (uint64_t)s->span_ms);
  return BCON_NEW("_id", BCON_UTF8(doc_id), "event_id", BCON_UTF8(id), "site_id", BCON_UTF8("stats"), "event_type", BCON_UTF8("page_view"),
                  "path", BCON_UTF8(path), "userid", BCON_UTF8(user), "timestamp", BCON_DATE_TIME(ts),
                  "createdAt", BCON_DATE_TIME(ts), "count", BCON_INT32(1));
}

/* Runs the pipeline in `file` `runs` times, draining the cursor, printing milliseconds per run. */
static int aggregate(const char *file, long runs) {
  bson_error_t error;
  FILE *f = fopen(file, "rb");
  if (!f) { perror(file); return 0; }
  char json[65536];
  size_t length = fread(json, 1, sizeof json - 1, f);
  fclose(f);
  json[length] = 0;
  bson_t *pipeline = bson_new_from_json((const uint8_t *)json, (ssize_t)length, &error);
  if (!pipeline) { fprintf(stderr, "pipeline: %s\n", error.message); return 0; }
  for (long run = 0; run < runs; run++) {
    double started = now();
    mongoc_cursor_t *cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    const bson_t *doc;
    long documents = 0;
    while (mongoc_cursor_next(cursor, &doc)) {
      char *text = bson_as_relaxed_extended_json(doc, NULL); /* the API turns the answer into JSON too */
      bson_free(text);
      documents++;
    }
    if (mongoc_cursor_error(cursor, &error)) { fprintf(stderr, "aggregate: %s\n", error.message); return 0; }
    mongoc_cursor_destroy(cursor);
    printf("%.3f\n", (now() - started) * 1000);
    if (documents != 1) { fprintf(stderr, "aggregate: expected one document, got %ld\n", documents); return 0; }
  }
  bson_destroy(pipeline);
  return 1;
}

int main(int argc, char **argv) {
  const char *usage = "usage: raw_mongo insert URI N BATCH | load URI N START_MS DAYS | aggregate URI FILE RUNS\n";
  if (argc < 5) { fputs(usage, stderr); return 2; }
  mongoc_init();
  bson_error_t error;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[2], &error);
  if (!uri) { fprintf(stderr, "%s\n", error.message); return 1; }
  client = mongoc_client_new_from_uri(uri);
  const char *db = mongoc_uri_get_database(uri) ? mongoc_uri_get_database(uri) : "events";
  collection = mongoc_client_get_collection(client, db, "events");
  int ok;
  if (strcmp(argv[1], "insert") == 0) {
    ok = create_indexes(db);
    double started = now();
    ok = ok && insert(atol(argv[3]), atol(argv[4]), drain_document, NULL);
    if (ok) printf("%.3f\n", now() - started);
  } else if (strcmp(argv[1], "load") == 0 && argc >= 6) {
    struct spread s = { atoll(argv[4]), atoll(argv[5]) * 86400000LL, 0x9E3779B97F4A7C15ULL };
    ok = create_indexes(db) && insert(atol(argv[3]), 1000, stats_document, &s);
  } else if (strcmp(argv[1], "ids") == 0) {
    bson_t *filter = BCON_NEW("site_id", BCON_UTF8(argv[3]));
    bson_t *opts = BCON_NEW("projection", "{", "event_id", BCON_INT32(1), "count", BCON_INT32(1), "}");
    mongoc_cursor_t *cursor = mongoc_collection_find_with_opts(collection, filter, opts, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cursor, &doc)) {
      bson_iter_t it;
      /* _id is "SITE/event_id"; chaos compares event ids, so print the event_id field. */
      const char *id = bson_iter_init_find(&it, doc, "event_id") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "?";
      long count = bson_iter_init_find(&it, doc, "count") ? (long)bson_iter_as_int64(&it) : 1;
      printf("%s %ld\n", id, count);
    }
    ok = !mongoc_cursor_error(cursor, &error);
    if (!ok) fprintf(stderr, "find: %s\n", error.message);
    mongoc_cursor_destroy(cursor);
    bson_destroy(filter);
    bson_destroy(opts);
  } else if (strcmp(argv[1], "drop") == 0) {
    mongoc_database_t *database = mongoc_client_get_database(client, db);
    ok = mongoc_database_drop(database, &error);
    if (!ok) fprintf(stderr, "drop: %s\n", error.message);
    mongoc_database_destroy(database);
  } else if (strcmp(argv[1], "aggregate") == 0) {
    ok = aggregate(argv[3], atol(argv[4]));
  } else {
    fputs(usage, stderr);
    ok = 0;
  }
  mongoc_collection_destroy(collection);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  mongoc_cleanup();
  return ok ? 0 : 1;
}
