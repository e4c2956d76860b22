/* symbols/debugoff.c: the real 3.13 block from the pyenv build's .PyRuntime section against
 * its DWARF, a hand-built 3.14 block, and malformed blocks. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols/debugoff.h"
#include "symbols/dwarf.h"
#include "symbols/offsets.h"
#include "tests/unit/roots_util.h"

/* PREFIX/lib/libpython3.13.so.1.0 of pyenv 3.13.0 (`pyenv prefix`, else PYENV_ROOT). */
static int libpython313(char *out, size_t len)
{
	FILE *p = popen("pyenv prefix 3.13.0 2>/dev/null", "r");
	char prefix[PATH_MAX] = "";
	const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");

	if (p) {
		if (!fgets(prefix, sizeof prefix, p))
			prefix[0] = '\0';
		prefix[strcspn(prefix, "\n")] = '\0';
		pclose(p);
	}
	if (!prefix[0]) {
		if (root && root[0])
			snprintf(prefix, sizeof prefix, "%s/versions/3.13.0", root);
		else
			snprintf(prefix, sizeof prefix, "%s/.pyenv/versions/3.13.0",
				 home ? home : "/root");
	}
	if ((size_t)snprintf(out, len, "%s/lib/libpython3.13.so.1.0", prefix) >= len)
		return -1;
	return access(out, R_OK);
}

/* Copy the start of a section's file contents (.PyRuntime holds _PyRuntime's initialiser). */
static size_t read_section(const char *path, const char *name, unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	size_t shstrndx, got = 0;
	Elf *elf;

	cr_assert_geq(fd, 0, "open %s", path);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf, "%s: %s", path, elf_errmsg(-1));
	cr_assert_eq(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *s;
		Elf_Data *d;
		if (!gelf_getshdr(scn, &sh) || !(s = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(s, name) != 0)
			continue;
		cr_assert_eq(sh.sh_type, SHT_PROGBITS, "%s is not PROGBITS", name);
		d = elf_rawdata(scn, NULL);
		cr_assert(d && d->d_buf);
		got = d->d_size < len ? d->d_size : len;
		memcpy(buf, d->d_buf, got);
		break;
	}
	elf_end(elf);
	close(fd);
	return got;
}

Test(debugoff, pyenv_313_block_matches_dwarf)
{
	unsigned char block[DEBUGOFF_READ_SIZE];
	struct py_offsets dbg, dw;
	struct tg_err err = {0};
	char lib[PATH_MAX];
	uint64_t version = 0;
	size_t n, covered = 0;

	if (libpython313(lib, sizeof lib) != 0)
		cr_skip_test("pyenv 3.13.0 is not installed (%s)", lib);
	n = read_section(lib, ".PyRuntime", block, sizeof block);
	cr_assert_eq(n, sizeof block, "%s: .PyRuntime missing or short (%zu bytes)", lib, n);
	cr_assert_eq(debugoff_parse(block, n, &dbg, &version, &err), 0, "%s", err.msg);
	cr_expect_eq(version, 0x030d00f0, "version 0x%llx", (unsigned long long)version);
	cr_expect_eq(debugoff_free_threaded(block, n), 0);
	cr_assert_eq(dwarf_read_offsets(lib, &dw, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < py_offset_ndescs; i++) {
		const struct py_offset_desc *d = &py_offset_descs[i];
		int32_t a = py_offsets_get(&dbg, d);
		if (a == OFFSET_ABSENT)
			continue;
		covered++;
		cr_expect_eq(a, py_offsets_get(&dw, d),
			     "field %s: _Py_DebugOffsets says %d, DWARF says %d", d->field, (int)a,
			     (int)py_offsets_get(&dw, d));
	}
	cr_expect_geq(covered, 35, "only %zu fields covered", covered);
	cr_expect_eq(dbg.is_tstate_head, 7344);
	cr_expect_eq(dbg.gil_holder, 8, "made relative to struct _gil_runtime_state");
	cr_expect_eq(dbg.gil_locked, 16);
	cr_expect_eq(dbg.rt_size, 283320);
	cr_expect_eq(dbg.u_kind_bit, OFFSET_ABSENT, "bit positions are not in the block");

	/* a buffer one byte short of the 3.13 layout (584 bytes) */
	cr_expect_eq(debugoff_parse(block, 583, &dbg, &version, &err), -1);
	cr_expect(strstr(err.msg, "too short") != NULL, "%s", err.msg);
	cr_expect_eq(debugoff_parse(block, 584, &dbg, &version, &err), 0, "%s", err.msg);
}

/* Byte offsets of the 3.14 slots, counted by hand from the field list in the reference
 * notes (section 7.2): header 24 bytes, then uint64 slots. */
/* clang-format off */
enum {
	B14_RT_SIZE = 24, B14_RT_INTERP_HEAD = 40,
	B14_IS_SIZE = 48, B14_IS_ID = 56, B14_IS_NEXT = 64, B14_IS_THREADS_HEAD = 72,
	B14_IS_THREADS_MAIN = 80, B14_IS_MODULES = 96, B14_IS_SYSDICT = 104,
	B14_IS_CEVAL_GIL = 120, B14_IS_GIL = 128, B14_IS_GIL_LOCKED = 144,
	B14_IS_GIL_HOLDER = 152, B14_IS_TLBC_GEN = 168,
	B14_TS_SIZE = 176, B14_TS_NEXT = 192, B14_TS_INTERP = 200, B14_TS_FRAME = 208,
	B14_TS_THREAD_ID = 216, B14_TS_NATIVE = 224, B14_TS_CHUNK = 232, B14_TS_STATUS = 240,
	B14_IF_SIZE = 248, B14_IF_PREVIOUS = 256, B14_IF_EXEC = 264, B14_IF_INSTR = 272,
	B14_IF_OWNER = 288, B14_IF_TLBC_INDEX = 304,
	B14_CO_SIZE = 312, B14_CO_FILENAME = 320, B14_CO_NAME = 328, B14_CO_QUALNAME = 336,
	B14_CO_LINETABLE = 344, B14_CO_FIRSTLINENO = 352, B14_CO_ADAPTIVE = 384,
	B14_CO_TLBC = 392,
	B14_OB_SIZE = 400, B14_OB_TYPE = 408,
	B14_TP_SIZE = 416, B14_TP_NAME = 424, B14_TP_FLAGS = 440,
	B14_TUPLE_SIZE = 448, B14_TUPLE_OB_SIZE = 464,
	B14_LIST_SIZE = 472, B14_SET_SIZE = 496,
	B14_DICT_SIZE = 528, B14_DICT_KEYS = 536, B14_DICT_VALUES = 544,
	B14_FLOAT_SIZE = 552, B14_LONG_SIZE = 568, B14_LONG_TAG = 576, B14_LONG_DIGIT = 584,
	B14_BYTES_SIZE = 592, B14_BYTES_SVAL = 608,
	B14_U_SIZE = 616, B14_U_STATE = 624, B14_U_LENGTH = 632, B14_U_ASCII_SIZE = 640,
	B14_GC_SIZE = 648, B14_GEN_SIZE = 664, B14_LLIST = 696, B14_DEBUGGER = 712,
	B14_END = 760,
};
/* clang-format on */

static void put(unsigned char *b, size_t at, uint64_t v)
{
	memcpy(b + at, &v, sizeof v);
}

/* Every slot holds its own byte offset; size slots hold 100000 + their offset. */
static void build_314(unsigned char *b, size_t len, uint64_t version)
{
	static const size_t sizes[] = {B14_RT_SIZE,   B14_IS_SIZE,    B14_TS_SIZE,   B14_IF_SIZE,
				       B14_CO_SIZE,   B14_OB_SIZE,    B14_TP_SIZE,   B14_TUPLE_SIZE,
				       B14_LIST_SIZE, B14_SET_SIZE,   B14_DICT_SIZE, B14_FLOAT_SIZE,
				       B14_LONG_SIZE, B14_BYTES_SIZE, B14_U_SIZE,    B14_GC_SIZE,
				       B14_GEN_SIZE};

	memset(b, 0xee, len);
	memcpy(b, "xdebugpy", 8);
	put(b, 8, version);
	put(b, 16, 0);
	for (size_t at = 24; at < B14_END; at += 8)
		put(b, at, at);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		put(b, sizes[i], 100000 + sizes[i]);
	/* a script path size is a size, not an offset: any value must be accepted */
	put(b, B14_DEBUGGER + 40, 1u << 30);
}

Test(debugoff, synthetic_314_block)
{
	unsigned char b[DEBUGOFF_READ_SIZE];
	struct py_offsets o;
	struct tg_err err = {0};
	uint64_t version = 0;

	build_314(b, sizeof b, 0x030e00f0);
	cr_assert_eq(debugoff_parse(b, sizeof b, &o, &version, &err), 0, "%s", err.msg);
	cr_expect_eq(version, 0x030e00f0);
	cr_expect_eq(o.rt_size, 100000 + B14_RT_SIZE);
	cr_expect_eq(o.rt_interp_head, B14_RT_INTERP_HEAD);
	cr_expect_eq(o.rt_debug_offsets, 0);
	cr_expect_eq(o.is_size, 100000 + B14_IS_SIZE);
	cr_expect_eq(o.is_id, B14_IS_ID);
	cr_expect_eq(o.is_next, B14_IS_NEXT);
	cr_expect_eq(o.is_tstate_head, B14_IS_THREADS_HEAD, "threads_main must be skipped");
	cr_expect_eq(o.is_modules, B14_IS_MODULES);
	cr_expect_eq(o.is_sysdict, B14_IS_SYSDICT);
	cr_expect_eq(o.is_gil_ptr, B14_IS_CEVAL_GIL);
	cr_expect_eq(o.gil_locked, B14_IS_GIL_LOCKED - B14_IS_GIL);
	cr_expect_eq(o.gil_holder, B14_IS_GIL_HOLDER - B14_IS_GIL);
	cr_expect_eq(o.ts_size, 100000 + B14_TS_SIZE, "interp section must be 16 slots");
	cr_expect_eq(o.ts_next, B14_TS_NEXT);
	cr_expect_eq(o.ts_interp, B14_TS_INTERP);
	cr_expect_eq(o.ts_current_frame, B14_TS_FRAME);
	cr_expect_eq(o.ts_thread_id, B14_TS_THREAD_ID);
	cr_expect_eq(o.ts_native_id, B14_TS_NATIVE);
	cr_expect_eq(o.ts_datastack_chunk, B14_TS_CHUNK);
	cr_expect_eq(o.ts_status, B14_TS_STATUS);
	cr_expect_eq(o.if_size, 100000 + B14_IF_SIZE);
	cr_expect_eq(o.if_previous, B14_IF_PREVIOUS);
	cr_expect_eq(o.if_code, B14_IF_EXEC);
	cr_expect_eq(o.if_instr, B14_IF_INSTR);
	cr_expect_eq(o.if_owner, B14_IF_OWNER);
	cr_expect_eq(o.co_size, 100000 + B14_CO_SIZE, "frame section must be 8 slots");
	cr_expect_eq(o.co_filename, B14_CO_FILENAME);
	cr_expect_eq(o.co_name, B14_CO_NAME);
	cr_expect_eq(o.co_qualname, B14_CO_QUALNAME);
	cr_expect_eq(o.co_linetable, B14_CO_LINETABLE);
	cr_expect_eq(o.co_firstlineno, B14_CO_FIRSTLINENO);
	cr_expect_eq(o.co_code_adaptive, B14_CO_ADAPTIVE);
	cr_expect_eq(o.ob_type, B14_OB_TYPE, "code section must be 11 slots");
	cr_expect_eq(o.tp_name, B14_TP_NAME);
	cr_expect_eq(o.tp_flags, B14_TP_FLAGS);
	cr_expect_eq(o.var_size, B14_TUPLE_OB_SIZE);
	cr_expect_eq(o.d_keys, B14_DICT_KEYS, "set_object must come before dict_object");
	cr_expect_eq(o.d_values, B14_DICT_VALUES);
	cr_expect_eq(o.long_tag, B14_LONG_TAG);
	cr_expect_eq(o.long_digit, B14_LONG_DIGIT);
	cr_expect_eq(o.bytes_sval, B14_BYTES_SVAL);
	cr_expect_eq(o.u_state, B14_U_STATE);
	cr_expect_eq(o.u_length, B14_U_LENGTH);
	cr_expect_eq(o.u_ascii_size, B14_U_ASCII_SIZE);
	cr_expect_eq(o.d_used, OFFSET_ABSENT, "not covered by the block");
	cr_expect_eq(o.u_kind_bit, OFFSET_ABSENT);

	/* the 3.14 block is 760 bytes */
	cr_expect_eq(debugoff_parse(b, B14_END, &o, &version, &err), 0, "%s", err.msg);
	cr_expect_eq(debugoff_parse(b, B14_END - 1, &o, &version, &err), -1);
	/* betas and release candidates share the final layout */
	put(b, 8, 0x030e00c2);
	cr_expect_eq(debugoff_parse(b, sizeof b, &o, &version, &err), 0, "%s", err.msg);
	put(b, 16, 1);
	cr_expect_eq(debugoff_free_threaded(b, sizeof b), 1);
}

static void expect_rejected(const unsigned char *b, size_t len, const char *why)
{
	struct py_offsets o;
	struct tg_err err = {0};
	uint64_t version = 12345;

	o.ts_size = 999;
	cr_expect_eq(debugoff_parse(b, len, &o, &version, &err), -1, "accepted: expected '%s'",
		     why);
	cr_expect_eq(err.code, TG_E_LAYOUT);
	cr_expect(strstr(err.msg, why) != NULL, "message '%s' lacks '%s'", err.msg, why);
	cr_expect(strchr(err.msg, '\n') == NULL, "one line: %s", err.msg);
	cr_expect_eq(o.ts_size, OFFSET_ABSENT, "a rejected block leaves nothing behind");
	cr_expect_eq(version, 12345);
}

Test(debugoff, rejects_malformed_blocks)
{
	unsigned char b[DEBUGOFF_READ_SIZE];

	build_314(b, sizeof b, 0x030e00f0);
	memcpy(b, "xdebugp\x01", 8);
	expect_rejected(b, sizeof b, "xdebugp\\x01");
	memset(b, 0, sizeof b);
	expect_rejected(b, sizeof b, "not \"xdebugpy\"");

	build_314(b, sizeof b, 0x030e00f0);
	expect_rejected(b, 10, "too short");
	expect_rejected(b, 100, "too short");

	build_314(b, sizeof b, 0x030c01f0);
	expect_rejected(b, sizeof b, "not CPython 3.13 or later");
	build_314(b, sizeof b, 0x020712f0);
	expect_rejected(b, sizeof b, "not CPython 3.13 or later");
	build_314(b, sizeof b, 0x030f00a1);
	expect_rejected(b, sizeof b, "3.15");
	build_314(b, sizeof b, 0x030e00a5);
	expect_rejected(b, sizeof b, "alpha");
	build_314(b, sizeof b, 0xffffffff030e00f0ull);
	expect_rejected(b, sizeof b, "not CPython");

	build_314(b, sizeof b, 0x030e00f0);
	put(b, 16, 7);
	expect_rejected(b, sizeof b, "free_threaded");

	/* offsets outside their structure: garbage, never trust them */
	build_314(b, sizeof b, 0x030e00f0);
	put(b, B14_TS_NATIVE, 100000 + B14_TS_SIZE + 1);
	expect_rejected(b, sizeof b, "thread_state.native_thread_id");
	build_314(b, sizeof b,
		  0x030e00f0); /* at the size: just past the last byte (fuzz_debugoff) */
	put(b, B14_TS_NEXT, 100000 + B14_TS_SIZE);
	expect_rejected(b, sizeof b, "thread_state.next");
	build_314(b, sizeof b, 0x030e00f0);
	put(b, B14_IS_SIZE, 0);
	expect_rejected(b, sizeof b, "interpreter_state.size");
	build_314(b, sizeof b, 0x030e00f0);
	put(b, B14_IS_GIL, B14_IS_GIL_LOCKED + 8);
	expect_rejected(b, sizeof b, "lies before gil_runtime_state");
}

/* The blocks in the .PyRuntime sections of Debian's current builds (the roots that
 * tools/mkroots.sh makes) equal the DWARF of their -dbg packages, on every field they
 * describe: the 3.13, 3.14 and 3.15 layouts read from real files. */
static void root_block_matches(const struct root_build *b, void *ctx)
{
	unsigned char block[DEBUGOFF_READ_SIZE];
	struct py_offsets dbg, dw;
	struct tg_err err = {0};
	uint64_t version = 0;
	size_t covered = 0;

	(void)ctx;
	size_t n = read_section(b->exe, ".PyRuntime", block, sizeof block);
	cr_assert_eq(n, sizeof block, "%s: .PyRuntime missing or short", b->exe);
	cr_assert_eq(debugoff_parse(block, n, &dbg, &version, &err), 0, "%s: %s", b->exe, err.msg);
	cr_expect_eq((version >> 16) & 0xff, (uint64_t)b->minor, "%s: version 0x%llx", b->exe,
		     (unsigned long long)version);
	cr_assert_eq(dwarf_read_offsets(b->dwarf, &dw, &err), 0, "%s", err.msg);
	for (size_t k = 0; k < py_offset_ndescs; k++) {
		const struct py_offset_desc *d = &py_offset_descs[k];
		int32_t a = py_offsets_get(&dbg, d);
		if (a == OFFSET_ABSENT)
			continue;
		covered++;
		cr_expect_eq(a, py_offsets_get(&dw, d),
			     "%s: field %s: _Py_DebugOffsets says %d, DWARF says %d", b->exe,
			     d->field, (int)a, (int)py_offsets_get(&dw, d));
	}
	cr_expect_geq(covered, 35, "%s: only %zu fields covered", b->exe, covered);
}

Test(debugoff, debian_root_blocks_match_dwarf)
{
	if (!roots_each(root_block_matches, NULL))
		cr_skip_test("no Debian root is built (make roots)");
}
