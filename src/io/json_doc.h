/* JSON documents, for every JSON file and line mpitrain writes or reads (metrics.jsonl, scaling.json,
 * gan_score.json, eval --json, the --log-format json events, the checkpoints' layer descriptions):
 * values are jansson's (json_t), built in order by a small builder; they are written in one layout and
 * one number format, and read back with jansson.
 *
 * Numbers: the shortest of %.15g, %.16g and %.17g that reads back as the same double (0.1 is "0.1",
 * 1e-05 is "1e-05", 3.0 is "3"); NaN and the infinities are written as null (a number not measured).
 * Strings: UTF-8, with every byte that does not belong to a valid UTF-8 sequence replaced by U+FFFD, so
 * that any file name or text from a file gives valid JSON; quotes, backslashes and control characters
 * are escaped by jansson. */
#ifndef MT_IO_JSON_DOC_H
#define MT_IO_JSON_DOC_H

#include <stdio.h>

#include <jansson.h>
#include <mpitrain/mpitrain.h>

#define MT_JSON_DEPTH 16

/* A document being built: mt_json_begin, then values, each either a member of the innermost open object
 * (key given) or an element of the innermost open array (key NULL), nested objects and arrays opened
 * and closed in order, then mt_json_take. After a failed allocation (or nesting deeper than
 * MT_JSON_DEPTH) every call does nothing and mt_json_take returns NULL. */
typedef struct mt_json {
    json_t *open[MT_JSON_DEPTH]; /* the open object or array of each level; open[0] is the root */
    int depth;                   /* open levels */
    int failed;
} mt_json;

/* Starts a document whose root is an object ('{') or an array ('['). */
void mt_json_begin(mt_json *j, char bracket);
void mt_json_string(mt_json *j, const char *key, const char *value); /* value NULL: null */
void mt_json_number(mt_json *j, const char *key, double value);      /* NaN, +-Inf: null */
void mt_json_integer(mt_json *j, const char *key, long long value);
void mt_json_bool(mt_json *j, const char *key, int value);
/* Opens an object ('{') or an array ('[') as the next value; mt_json_close ends the innermost one. */
void mt_json_open(mt_json *j, const char *key, char bracket);
void mt_json_close(mt_json *j);
/* The finished document (open levels closed), the caller's to json_decref; NULL after a failure. */
json_t *mt_json_take(mt_json *j);

/* The text of doc: the members and elements of its first `levels` levels one per line, indented by two
 * spaces a level, deeper values on one line ("{"a": 1, "b": [2, 3]}": ", " between values, ": " after
 * keys); levels 0 gives one line. No final newline. malloc'd; NULL when out of memory. */
char *mt_json_text(const json_t *doc, int levels);

/* Writes the text of doc and a newline to f; -1 when a write fails. */
int mt_json_write(FILE *f, const json_t *doc, int levels);

/* Writes the text of doc and a newline as the file path, atomically (core/atomic_file.h). */
mt_status mt_json_write_file(const char *path, const json_t *doc, int levels, mt_error *err);

/* Reads a file of JSON lines (one document a line, blank lines skipped) into *rows, an array of the
 * documents, the caller's to json_decref. MT_ERR_INPUT "<path>: cannot open: ..." or "<path>:<line>:
 * not JSON: <jansson's reason>". */
mt_status mt_json_read_lines(const char *path, json_t **rows, mt_error *err);

/* Member key of object obj as a number; NaN when obj is not an object or the member is missing, null or
 * not a number. */
double mt_json_get_number(const json_t *obj, const char *key);

#endif
