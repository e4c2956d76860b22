/* test_render_run.h: helpers of the render end-to-end tests (run the real binary, temp
 * directories, files).  Run from the repository root. */
#ifndef TG_TEST_RENDER_RUN_H
#define TG_TEST_RENDER_RUN_H

#include <stddef.h>

#include "common/buf.h"

#ifndef RENDER_TG_BIN /* -DRENDER_TG_BIN=... to test another build */
#define RENDER_TG_BIN "./build/asan/tgattach"
#endif
#ifndef RENDER_REL_BIN /* the optimised build, for the memory bounds */
#define RENDER_REL_BIN "./tgattach"
#endif
#define RENDER_FIXTURES "fixtures/recordings"
/* Where the tests leave PNGs of fixture recordings for a person to look at. */
#define RENDER_LOOK_DIR "build/render-look"

struct rrun {
	int status; /* exit code, or 128 + signal */
	struct buf out, err;
};

/* Runs argv[0] (a path, no PATH lookup) with PATH set to path_env (NULL: inherited),
 * collecting stdout and stderr.  Asserts that it could be started. */
void rrun_exec(struct rrun *r, const char *path_env, const char *const *argv);
/* Runs RENDER_TG_BIN with the given arguments (NULL-terminated, without argv[0]). */
void rrun_tool(struct rrun *r, const char *path_env, const char *const *args);
void rrun_free(struct rrun *r);

/* The full path of prog found in PATH, or NULL (caller frees). */
char *rrun_which(const char *prog);
/* 1 if xmllint accepts the file; with the complaint in *msg otherwise. */
int rrun_xml_ok(const char *xmllint, const char *path, struct buf *msg);
/* memg.svg in outdir: large enough, whole, and XML (xmllint, when installed); asserts. */
void rrun_assert_memg_svg(const char *outdir);

char *rrun_tmpdir(void);
void rrun_rmtree(const char *dir);
/* Reads a whole file into b (asserts success). */
void rrun_read(const char *path, struct buf *b);
void rrun_write(const char *path, const char *data, size_t len);
int rrun_exists(const char *path);
/* Number of entries in dir, "." and ".." excluded. */
size_t rrun_count_entries(const char *dir);

/* Runs `python3 tests/e2e/test_render_check.py ARGS...` (render's JSON and SVG checks);
 * cr_skip()s the test when there is no python3.  r gets its output and status. */
void rrun_check(struct rrun *r, const char *const *args);

/* Asserts that path is a PNG of w x h pixels. */
void rrun_assert_png(const char *path, unsigned w, unsigned h);
/* Copies a file into RENDER_LOOK_DIR/name (created if needed) for a person to look at. */
void rrun_keep_for_looking(const char *path, const char *name);

#endif
