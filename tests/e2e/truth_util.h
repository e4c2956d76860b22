/* truth_util.h: what a fixture says about its own threads (its truth file) against what
 * `tgattach dump` prints, and the checks of a short recording, for the end-to-end tests
 * that run real interpreters.  Failures are Criterion assertions.
 *
 * Truth file (see fixtures/threads.py), one record per tab-separated line:
 *   thread IDENT NATIVE_ID NAME [INTERPRETER_ID]
 *   frame FILE FUNCTION LINE          (innermost first) */
#ifndef TG_E2E_TRUTH_UTIL_H
#define TG_E2E_TRUTH_UTIL_H

#include "tests/e2e/proc_util.h"
#include "tests/e2e/run_util.h"

#define TRUTH_MAX_THREADS 16
#define TRUTH_MAX_FRAMES 64

struct truth_frame {
	char file[512], func[256];
	int line;
};

struct truth_thread {
	char name[256];
	long native; /* kernel TID, 0 when unknown */
	long interp; /* interpreter id, -1 when the truth does not say */
	int nframes;
	struct truth_frame frames[TRUTH_MAX_FRAMES]; /* innermost first */
};

struct truth_view {
	int nthreads;
	struct truth_thread threads[TRUTH_MAX_THREADS];
};

/* Read a fixture's truth file. */
void truth_parse_file(const char *path, struct truth_view *v);
/* Parse `tgattach dump` output (names must contain no quote or escape). */
void truth_parse_dump(const char *text, struct truth_view *v);
/* Every truth thread is in got (same name, and interpreter when the truth gives one) with
 * the same TID and frames, and got has no other thread. */
void truth_compare(const char *label, const struct truth_view *truth, const struct truth_view *got);

/* Start a fixture (argv, argv[0] searched in PATH) that writes truth_path then prints
 * "READY n", n being the number of its threads that stay; wait for that line and for the
 * process to have n threads (its truth writer ended), and read the truth.  Returns n.
 * The fixture dies with the test (proc_spawn), also when an assertion ends it early;
 * proc_reap() it at the end. */
int truth_start_fixture(const char *label, char *const argv[], const char *truth_path,
			struct proc *fx, struct truth_view *truth);

/* `tgattach dump -p PID [extra]` must exit 0 and equal the truth; the target must be left
 * untraced and running. */
void truth_dump_and_compare(const char *label, pid_t pid, const char *extra,
			    const struct truth_view *truth);

/* Record for 1.5 s at 50 Hz (extra: one more option, or NULL): process.mem has enough
 * samples, every truth thread that has frames has its .stack file with those frames at
 * their depths, meta has the version (exactly `version` when not NULL), and the target
 * runs on untraced. */
void truth_record_and_check(const char *label, pid_t pid, const struct truth_view *truth,
			    const char *extra, const char *version);

/* The same; with need_heap, meta must say metric=heap and process.alloc hold heap values. */
void truth_record_check(const char *label, pid_t pid, const struct truth_view *truth,
			const char *extra, const char *version, int need_heap);

/* `tgattach dump -p PID [extra]` names `want` as its layout source ("offsets: WANT" in its
 * first line: "dwarf", "debug-offsets", ...). */
void truth_check_source(const char *label, pid_t pid, const char *extra, const char *want);

/* Whole file into a malloc'd string, or NULL. */
char *truth_read_text(const char *path);

#endif
