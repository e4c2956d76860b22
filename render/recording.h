/* recording.h: which files make up a recording, as given on the command line.
 *
 * The arguments are one or more recording directories (OUTDIR/PID) and/or single files
 * (THREAD.mem, THREAD.stack, process.mem, process.alloc).  A thread is the pair of
 * THREAD.mem and THREAD.stack with the same directory and file stem; its name is the stem
 * unescaped (tg_unescape_filename).  Threads are sorted by name in version order
 * (Worker-2 before Worker-10), then by path.  Other files (meta, memg.svg, ...) are
 * ignored.  Only names are read here; the files are opened by the commands. */
#ifndef TG_RECORDING_H
#define TG_RECORDING_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

struct rec_thread {
	struct buf name; /* unescaped: any bytes */
	char *mem;	 /* THREAD.mem path, or NULL */
	char *stack;	 /* THREAD.stack path, or NULL */
	char *dir, *stem;
};

struct recording {
	char *dir; /* the first argument's directory: where meta is looked for */
	struct rec_thread *threads;
	size_t nthreads, cap;
	char *process_mem;   /* or NULL */
	char *process_alloc; /* or NULL */
	char *process_charge; /* or NULL */
};

/* Fills *r from the arguments.  TG_E_DATA if an argument is missing or unreadable, a file
 * argument is none of the four kinds, or a directory holds none of them. */
int recording_open(struct recording *r, int nargs, char *const *args, struct tg_err *err);
void recording_free(struct recording *r);

/* Which files recording_first_time() looks at. */
enum {
	REC_MEM = 1,	 /* THREAD.mem */
	REC_STACK = 2,	 /* THREAD.stack */
	REC_PROCESS = 4, /* process.mem */
};

/* The earliest time among the first well-formed lines of the chosen files (each file is in
 * time order).  TG_E_DATA "no data" when they hold none. */
int recording_first_time(const struct recording *r, unsigned which, double *t0, struct tg_err *err);

/* The value of the last "KEY=" line of DIR/meta, unescaped (tg_unescape_field), into out;
 * returns whether there was one. */
int recording_meta(const struct recording *r, const char *key, struct buf *out);

/* A number from meta (strtod of the value; 0 when missing or not finite). */
double recording_meta_number(const struct recording *r, const char *key);
/* Seconds per sample: given when > 0 (an --interval), else 1/rate_hz from meta, else 10 ms. */
double recording_interval(const struct recording *r, double given);

/* "PID 5151" when the directory is named by a number, else "recording NAME"; then, if meta
 * has a command line, ": CMDLINE" cut to about max bytes. */
void recording_title(const struct recording *r, size_t max, struct buf *out);

/* "Processing data for thread NAME" on stderr, NAME shown with text_display(), for the
 * first RECORDING_SAY_MAX threads of r; at the next one "Processing data for K more
 * threads" (a server's recording has thousands). */
#define RECORDING_SAY_MAX 20
void recording_say_thread(const struct recording *r, const struct rec_thread *t);

/* At least one thread has a .stack file; TG_E_DATA saying why it is needed otherwise. */
int recording_need_stacks(const struct recording *r, const char *why, struct tg_err *err);

#endif
