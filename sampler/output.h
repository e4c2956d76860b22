/* output.h: the files of one profiled process, in the ThreadGraph layout.
 *
 *   DIR/PID/process.mem     TIME#RSS_BYTES               one line per sample
 *   DIR/PID/THREAD.stack    <depth spaces>TIME#FILE:LINE:FUNC   one line per call seen
 *   DIR/PID/THREAD.mem      TIME#FILE:LINE:FUNC=>DELTA   one line per return seen
 *   DIR/PID/process.alloc   TIME VALUE...                 allocator statistics, per sample
 *   DIR/PID/process.charge  TIME#BYTES#THREAD            memory charged to a thread so far
 *   DIR/PID/meta            key=value lines about the runs
 *
 * TIME is Unix time with 6 decimals, DELTA a signed decimal, depth 0 the outermost call.
 * FILE and FUNC are escaped with tg_escape_field(); THREAD with tg_escape_filename(), made
 * unique per thread: a second thread whose escaped name is already taken, or a thread named
 * "process", gets "@TID" appended (then "-2", "-3"... in the unlikely case that is taken
 * too); a name starting with "process." (which readers take for the process trace) has that
 * dot written as "%2e".  Files are opened with O_NOFOLLOW relative to DIR/PID, so no name
 * can reach outside it.
 *
 * Reruns append: if DIR/PID already holds files from an earlier attach to the same PID, the
 * new lines go after the old ones (a file left ending in a partial line is first cut back to
 * its last whole line), so a second attach continues the same recording.  meta keeps the
 * earlier runs' lines and adds a block per run that starts with "run=N" (N = 1, 2, ...);
 * the current run's values are the lines after the last "run=" line.
 *
 * Writes are buffered per file and always end on whole lines.  At most OUTPUT_MAX_OPEN
 * thread files are open (and buffered) at once; the least recently used one is flushed and
 * closed when another is needed, and reopened in append mode later.
 *
 * A failed write (full disk, I/O error) is TG_E_OUTPUT "cannot write to PATH: errno text";
 * the file is cut back to its last whole line.  The output is then broken: every later
 * write call returns -1 with that same first error.  output_close() still flushes whatever
 * it can, each file ending on a whole line. */
#ifndef TG_OUTPUT_H
#define TG_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct output;
struct output_thread;

enum { OUTPUT_NO_STACK = 1 }; /* flags: don't write .stack files */

/* thread files open at once (plus process.mem, DIR/PID, and once many files were created,
 * SPAREFILE_MAX files made ahead: sampler/sparefile.h) */
enum { OUTPUT_MAX_OPEN = 64 };
enum { OUTPUT_MAX_DEPTH = 100000 }; /* deeper .stack lines are indented this much */

/* Creates DIR (with its parents) if missing, then DIR/PID, and opens process.mem, so that an
 * unwritable directory fails here: TG_E_OUTPUT "cannot write to DIR/PID: errno text".
 * Writes meta with this run's "run=N" line. */
struct output *output_open(const char *dir, pid_t pid, unsigned flags, struct tg_err *err);
/* The directory DIR/PID. */
const char *output_dir(const struct output *o);

int output_process_mem(struct output *o, double when, uint64_t rss, struct tg_err *err);

/* process.alloc is a whitespace-separated table for gnuplot (docs/formats.md): "#" comment
 * lines, then one row per sample.  output_alloc_header() starts this run's part: each
 * comment as a "# " line (control bytes written as spaces), then "# " and the column names.
 * output_alloc_row() writes the time (6 decimals) and, for each of the n other columns,
 * values[i] in decimal if bit i of valid is set, else "?" (gnuplot: set datafile missing
 * "?").  The file is created on the first call. */
int output_alloc_header(struct output *o, const char *const *comments, size_t ncomments,
			const char *const *columns, size_t ncolumns, struct tg_err *err);
int output_alloc_row(struct output *o, double when, const uint64_t *values, uint64_t valid,
		     size_t n, struct tg_err *err);

/* process.charge: `total` bytes charged to th since this run began (the file is created on
 * the first call; each run's part starts with a "#" comment line). */
int output_charge(struct output *o, const struct output_thread *th, double when, int64_t total,
		  struct tg_err *err);
/* The writer for thread `tid` (kernel TID, or another unique key).  name is the Python
 * thread name (bytes, any content, NUL included).  The name is fixed at first sight of a
 * tid.  Opens nothing: files are created on the thread's first line. */
struct output_thread *output_thread(struct output *o, uint64_t tid, const char *name,
				    size_t namelen);
/* The thread ended: flushes and closes its files and frees th.  Its file names stay taken
 * for the rest of the run; a later output_thread() with the same tid starts a new writer.
 * Returns -1 with err if the flush failed (th is freed all the same). */
int output_thread_done(struct output *o, struct output_thread *th, struct tg_err *err);
/* The base file name chosen for th (escaped, unique, without ".mem"/".stack"). */
const char *output_thread_file(const struct output_thread *th);

/* depth < 0 is written as 0, depth > OUTPUT_MAX_DEPTH as OUTPUT_MAX_DEPTH.  Does nothing
 * under OUTPUT_NO_STACK. */
int output_call(struct output *o, struct output_thread *th, double when, int depth,
		const char *file, int line, const char *func, struct tg_err *err);
int output_return(struct output *o, struct output_thread *th, double when, const char *file,
		  int line, const char *func, int64_t delta, struct tg_err *err);

/* Rewrites DIR/PID/meta atomically (meta.tmp, then rename): the earlier runs' lines, then
 * "run=N", then the n key=value pairs.  In keys and values, '\\', control bytes (newlines
 * included) and, in keys, '=' are written as \xHH, reversed by tg_unescape_field(). */
int output_meta(struct output *o, const char *const *keys, const char *const *values, size_t n,
		struct tg_err *err);

/* Bytes written to disk so far (for the status line and benchmarks). */
uint64_t output_bytes(const struct output *o);

int output_flush(struct output *o, struct tg_err *err);
/* Close without keeping anything: a process that turned out not to be Python (it exec'd
 * another program) leaves no directory.  Only a DIR/PID this run created is removed. */
void output_discard(struct output *o);

/* Flush and close everything, free o (NULL is fine); returns -1 with err if a write failed
 * during the run or in this final flush. */
int output_close(struct output *o, struct tg_err *err);

#endif
