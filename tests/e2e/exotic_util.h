/* exotic_util.h: helpers of the unusual-interpreter tests (test_exotic.c,
 * test_exotic_info.c): fixtures found and copied, `tgattach info` run and its fields
 * checked, symbols and mappings compared with nm's and /proc's, the threads fixture
 * started, one line printed per case (passed, or skipped and why). */
#ifndef TG_E2E_EXOTIC_UTIL_H
#define TG_E2E_EXOTIC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "tests/e2e/proc_util.h"
#include "tests/e2e/truth_util.h"

#define DEBIAN_PY "/usr/bin/python3.11"
#define DEBIAN_PYD "/usr/bin/python3.11d"

int ex_skipped(const char *label, const char *why);
void ex_passed(const char *label, const char *what);
void ex_fixture_path(const char *name, char *out, size_t len);
void ex_copy_file(const char *from, const char *to);
int ex_run_out(char *const argv[], struct buf *out, struct buf *err);
int ex_tg_info(pid_t pid, const char *extra, struct buf *out, struct buf *err);
void ex_info_field(const char *text, const char *key, char *val, size_t len);
void ex_expect_field(const char *label, const char *text, const char *key, const char *want);
void ex_expect_field_prefix(const char *label, const char *text, const char *key,
			    const char *prefix);
void ex_expect_dwarf_from(const char *label, const char *text, const char *path);
void ex_python_version(const char *python, char *out, size_t len);
uint64_t ex_map_base(pid_t pid, const char *path);
void ex_expect_symbol(const char *label, const char *info, const char *file, uint64_t bias,
		      const char *sym);
void ex_start_threads(const char *label, const char *python, const char *dir, struct proc *fx,
		      struct truth_view *truth);
int ex_pyenv_prefix(const char *version, char *prefix, size_t len);

#endif
