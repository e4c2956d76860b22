/* output_util.h: helpers of the sampler/output unit tests (test_output*.c): temporary
 * directories, whole files, descriptors open, and checks that every line tgattach wrote is
 * whole and well-formed (asserting with criterion). */
#ifndef TG_TEST_OUTPUT_UTIL_H
#define TG_TEST_OUTPUT_UTIL_H

#include <stddef.h>

#include "common/buf.h"

/* A fresh directory under /tmp (malloc'd path); removed with everything in it, and freed. */
char *outt_tmpdir_make(void);
void outt_tmpdir_remove(char *dir);
/* "a/b", malloc'd. */
char *outt_path_join(const char *a, const char *b);
/* The whole file dir/name (malloc'd; *len its length when len is given), or NULL if it does
 * not exist. */
char *outt_file_read(const char *dir, const char *name, size_t *len);
void outt_file_write(const char *dir, const char *name, const char *content);
/* Descriptors this process has open. */
int outt_fd_count(void);
/* Every line of every file in dir is whole and well-formed; returns the number of files. */
int outt_dir_check_lines(const char *dir);
/* The first line's FILE and FUNC of dir/name, unescaped. */
void outt_first_site(const char *dir, const char *name, int is_mem, struct buf *file,
		     struct buf *func);

#endif
